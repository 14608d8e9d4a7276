"""A bounded load test of a live gate: N client threads, M requests in all, every answer checked.

Each request carries a unique feat_id and one of several texts whose proposal is computed here
with the same repair model, so a lost, mixed-up or wrong answer is counted, not guessed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from harness.runs.gate_client import GateClient, GateProtocolError, GateUnavailable
from harness.runs.gate_server import Lexicon, propose

TEXTS = ["ߊ߬ ߦߋ߫ ߓߊ߯ߙQ߫", "ߞߊ߬ ߕQ߯", "ߊ߬ ߦߋ߫", "ߓߌ߬ߟߊ߫ ߘߏ߫ ZZZߊ", "ߟߊ߫ ߕߊ߯ ߞߊ߬"]


@dataclass
class LoadReport:
    clients: int
    requests: int
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    lost: int = 0  # no answer (an error, or the run's time bound hit first)
    mixed: int = 0  # an answer for another request, or not the expected proposal
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0

    @property
    def answered(self) -> int:
        return len(self.latencies_s)

    @property
    def throughput(self) -> float:
        return self.answered / self.wall_s if self.wall_s else 0.0

    def summary(self) -> str:
        return (f"{self.clients} clients, {self.requests:,} requests: {self.answered:,} "
                f"answered in {self.wall_s:.1f} s ({self.throughput:,.0f} req/s), latency p50 "
                f"{self.percentile(50) * 1e3:.1f} ms, p95 {self.percentile(95) * 1e3:.1f} ms, "
                f"p99 {self.percentile(99) * 1e3:.1f} ms; lost {self.lost}, mixed up "
                f"{self.mixed}")


def run_load(url: str, lexicon: Lexicon, policy: str, *, clients: int, requests: int,
             bound_s: float) -> LoadReport:
    """``requests`` POST /propose spread over ``clients`` threads; stops by ``bound_s``."""
    expected = {t: propose(lexicon, t, policy) for t in TEXTS}
    report = LoadReport(clients, requests)
    lock = threading.Lock()
    stop_at = time.monotonic() + bound_s

    def client(c: int) -> None:
        gate = GateClient(url, timeout_s=10.0, retries=2, backoff_s=0.05)
        mine = range(c, requests, clients)
        for i in mine:
            if time.monotonic() > stop_at:
                with lock:
                    report.lost += 1
                continue
            text = TEXTS[i % len(TEXTS)]
            start = time.perf_counter()
            try:
                [got] = gate.propose([(f"c{c}-r{i}", text)])
            except (GateProtocolError, GateUnavailable, ValueError) as exc:
                with lock:
                    report.lost += 1
                    report.errors.append(str(exc)[:200])
                continue
            took = time.perf_counter() - start
            want = expected[text]
            ok = (got.feat_id == f"c{c}-r{i}" and got.proposal == want.proposal
                  and got.accepted == want.accepted)
            with lock:
                report.latencies_s.append(took)
                report.mixed += not ok

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(bound_s + 30)
    report.wall_s = time.perf_counter() - start
    return report
