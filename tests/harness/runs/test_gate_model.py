"""The repair gate whose repairs a model proposes (gate_server ``--proposer``, policies model-*).

The class: a gate that keeps a spelling its policy does not allow (a word that is not the ill-
formed word's one lexicon neighbour, a well-formed word changed, a changed word count), or that
answers 200 when its proposer model is down or answers garbage. Live: the demo's repair model
behind the real mlx_lm.server, asked by the demo gate process over HTTP.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from harness.runs.gate_client import GateClient, GateHTTPError, GateProcess
from harness.runs.gate_server import (
    MODEL_POLICIES,
    Lexicon,
    ModelProposer,
    ProposerError,
    make_server,
    propose,
)
from tests.harness.runs.hostile import answer_head, hostile_server, read_request

# A hand-made lexicon: "ߓߊ߯ߙߊ߫" and "ߓߊ߯ߙߋ߫" are one substitution apart, so a word one
# substitution from both has two neighbours; "ߕߊ߯" has one.
WORDS = ["ߊ߬", "ߦߋ߫", "ߓߊ߯ߙߊ߫", "ߓߊ߯ߙߋ߫", "ߞߊ߬", "ߕߊ߯", "ߓߌ߬ߟߊ߫", "ߘߏ߫", "ߟߊ߫"]
LEX = Lexicon(WORDS)
# ill-formed words (a Latin letter: unseen bigrams), with one, two or no lexicon neighbours
ILL = ["ߕQ߯", "ߓߊ߯ߙQ߫", "ߓߊ߯Qߊ߫", "QQQ", "ߘQ߫"]
SPELLINGS = st.sampled_from([*WORDS, *ILL, "", "ߓߊ߯ߙߊ", "x y"]) | st.text(max_size=4)


# per ill-formed word, a spelling that is often one of its lexicon neighbours
ANSWERS = st.fixed_dictionaries({w: st.sampled_from(LEX.neighbours(w) or WORDS) | SPELLINGS
                                 for w in ILL})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS + ILL), min_size=1, max_size=8), ANSWERS,
       st.sampled_from(MODEL_POLICIES))
@example(["ߊ߬", "ߓߊ߯ߙQ߫"], {"ߓߊ߯ߙQ߫": "ߓߊ߯ߙߋ߫"}, "model-lexicon")  # two neighbours: kept by none
def test_a_model_gate_keeps_only_what_its_policy_allows(words: list[str],
                                                        answers: dict[str, str],
                                                        policy: str) -> None:
    asked: list[str] = []

    def spell(word: str) -> str:
        asked.append(word)
        return answers.get(word, "")

    got = propose(LEX, " ".join(words), policy, spell)
    fixed = got.proposal.split()
    assert all(not LEX.well_formed(w) and LEX.neighbours(w) for w in asked)  # only those asked
    changed = [(a, b) for a, b in zip(words, fixed, strict=False) if a != b]
    assert got.repaired_words == len(changed)
    assert len(fixed) == len(words)
    assert all(after.split() == [after] for _, after in changed)
    if policy != "model-all":
        for before, after in changed:
            assert after == answers[before]
            assert after in LEX.words
            assert len(after) == len(before)
            assert Levenshtein.distance(before, after) == 1
            if policy == "model-lexicon":
                assert LEX.neighbours(before) == [after]
        assert got.accepted == bool(changed)
    else:
        assert got.accepted


def test_model_policies_need_a_proposer_and_rule_policies_refuse_one() -> None:
    with pytest.raises(ValueError, match="needs a proposer"):
        propose(LEX, "ߕQ߯", "model-lexicon")
    with pytest.raises(ValueError, match="needs a proposer"):
        make_server(LEX, "model-near")
    with pytest.raises(ValueError, match="takes no proposer"):
        make_server(LEX, "lexicon", proposer=ModelProposer("http://127.0.0.1:9/v1"))


def _answer(payload: Any, status: str = "200 OK"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()

    def behave(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(answer_head(status, len(body)) + body)
        conn.close()
    return behave


@pytest.mark.parametrize(("behaviour", "says"), [
    (_answer({"error": "boom"}, "500 Internal Server Error"), "HTTP 500"),
    (_answer(b"not json"), "answered b'not json'"),
    (_answer({"choices": [{"text": 7}]}), "not a string"),
    (_answer({"choices": []}), "answered"),
])
def test_a_proposer_that_answers_garbage_is_an_error(behaviour: Any, says: str) -> None:
    with hostile_server(behaviour) as url:
        proposer = ModelProposer(url + "/v1", timeout_s=3)
        with pytest.raises(ProposerError, match=says) as err:
            proposer("ߕQ߯")
    assert url in str(err.value)


@pytest.fixture(scope="module")
def repairer_server() -> Any:
    from harness.demo.build import Builder
    from harness.demo.repairer import repairer_mlx_dir
    from harness.models.served import ServerProcess
    from harness.workspace import Workspace

    folder = repairer_mlx_dir(Builder.for_workspace(Workspace.discover(Path(__file__)), False,
                                                    False))
    server = ServerProcess(folder)
    yield server
    server.close()


def test_the_demo_gate_asks_the_served_repair_model_over_http(tmp_path: Path,
                                                             repairer_server: Any) -> None:
    """The real mlx_lm.server on the demo's repair model, asked by the demo gate process."""
    from harness.demo.bundles import RunSpec, build_bundle, demo_root, lexicon_file
    from harness.runs.bundle import read_bundle
    from harness.workspace import Workspace

    root = demo_root(Workspace.discover(Path(__file__)))
    lexicon = lexicon_file(root)
    lex = Lexicon.from_file(lexicon)
    asr = read_bundle(build_bundle(root, RunSpec("nqo", "trajectory"))).rows[:60]
    rows = [(r.feat_id, r.asr_text) for r in asr]
    args = ["--proposer", repairer_server.url]
    with GateProcess(lexicon, "model-lexicon", proposer=args) as gate:
        client = GateClient(gate.url, timeout_s=120)
        assert repairer_server.url in client.health()["proposer"]
        results = client.propose(rows)
    assert [r.feat_id for r in results] == [f for f, _ in rows]
    for (_, text), result in zip(rows, results, strict=True):
        changed = [(a, b) for a, b in zip(text.split(), result.proposal.split(), strict=True)
                   if a != b]
        assert result.accepted == bool(changed)
        for before, after in changed:  # the model's spelling, kept as the word's one neighbour
            assert lex.neighbours(before) == [after]
    assert sum(r.accepted for r in results) >= 3  # the model does spell some words right


def test_a_gate_whose_proposer_is_down_answers_502(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--proposer", f"http://127.0.0.1:{port}/v1", "--proposer-timeout-s", "2"]
    with GateProcess(lexicon, "model-near", proposer=args) as gate:
        client = GateClient(gate.url, timeout_s=20, retries=0)
        assert client.propose([("a", "ߊ߬ ߦߋ߫")])[0].accepted is False  # nothing to ask about
        with pytest.raises(GateHTTPError, match="502") as err:
            client.propose([("b", "ߊ߬ ߕQ߯")])
    assert f"127.0.0.1:{port}" in str(err.value)
