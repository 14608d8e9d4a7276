"""The machine a record was made on, and its *kind*: what a speed claim holds for.

A speed measurement (tokens per second, a cached-over-stateless ratio) is a fact about a kind of
machine: the same code is 3x faster on another CPU, and a loaded machine is slower than an idle
one. So every record's environment names the CPU model, the cores this process may use, the
load average when the process first recorded, and torch's thread count; and a claim marked
``machine_bound: true`` treats evidence recorded on another kind of machine as STALE
(harness.status). The kind is the CPU model, the usable cores and the accelerator: what decides
speed, and nothing (hostname, load, versions) that differs between two runs on one machine.

Written here rather than taken from a library: ``platform.processor()`` is empty on most Linux
builds and py-cpuinfo runs a CPUID probe in a subprocess (~1 s); /proc/cpuinfo and sysctl say
the model directly.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["NOT_RECORDED", "cpu_model", "machine_info", "machine_kind", "usable_cores"]

NOT_RECORDED = "not recorded (the record predates machine provenance)"
_START: dict[str, Any] = {}


def cpu_model() -> str:
    """The CPU's model name: /proc/cpuinfo on Linux, sysctl on macOS, else platform's guess."""
    info = Path("/proc/cpuinfo")
    try:
        for line in info.read_text("utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
                return " ".join(value.split())
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], check=False,
                                 capture_output=True, text=True, timeout=5)
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is not None:
        return len(getter(0))
    return os.cpu_count() or 1


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info() -> dict[str, Any]:
    """``{"cpu_model", "cores", "load_avg", "torch_threads"}``: the load average (1, 5, 15 min)
    is read once, when the process first asks (its start, for a pytest session); torch's thread
    count each time, and only when torch is already imported."""
    if not _START:
        _START.update({"cpu_model": cpu_model(), "cores": usable_cores(),
                       "load_avg": _load_average()})
    torch = sys.modules.get("torch")
    threads = None
    if torch is not None:
        try:
            threads = int(torch.get_num_threads())
        except (AttributeError, RuntimeError):
            threads = None
    return {**_START, "torch_threads": threads}


def machine_kind(env: Mapping[str, Any]) -> str:
    """The kind of machine an ``env`` (a record's provenance env, or env_info()) describes:
    architecture, CPU model, usable cores and accelerator."""
    host = env.get("host")
    if not isinstance(host, Mapping) or not host.get("cpu_model"):
        return NOT_RECORDED
    kind = f"{env.get('machine', '?')} {host['cpu_model']} x{host.get('cores', '?')} cores"
    device = env.get("device")
    if device and device != "cpu":
        kind += f" + {env.get('device_name') or device}"
    return kind
