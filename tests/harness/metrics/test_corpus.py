"""Tests of harness.metrics.corpus: the shard loader, the chunked audit and the demo corpora."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.demo import CORPORA_DIR
from harness.demo.corpus import DOC_LINES, misloaded_tokenizer, pack, real_tokenizer
from harness.demo.tokenizer import train_tokenizer
from harness.metrics.corpus import (
    Corpus,
    CorpusError,
    audit,
    count_ids,
    entropy_bits,
    load_corpus,
    open_shard,
    read_tokenizer_vocab,
)
from harness.workspace import SubjectSpec, Workspace

DEV_FILES = ("eng_Latn.dev", "nqo_Nkoo.dev", "bam_Latn.dev")


def _documents(name: str) -> list[str]:
    lines = (CORPORA_DIR / name).read_text(encoding="utf-8").splitlines()
    return ["\n".join(lines[i:i + DOC_LINES]) for i in range(0, len(lines), DOC_LINES)]


def _write_bin(path: Path, ids: np.ndarray, dtype: str = "uint16") -> Path:
    path.write_bytes(np.asarray(ids, dtype=dtype).tobytes())
    return path


def _workspace(root: Path, subjects: str = "") -> Workspace:
    (root / "contracts").mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(f"[tool.falsify]\n{subjects}", encoding="utf-8")
    return Workspace.discover(root)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def real_shards(tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The real dev text, tokenized with the demo tokenizer, one uint16 shard per language."""
    folder = tmp_path_factory.mktemp("shards")
    tok = real_tokenizer(tokenizer)
    return [_write_bin(folder / f"{name}.bin", pack(tok, _documents(name), 1))
            for name in DEV_FILES]


def _brute(ids: np.ndarray, vocab: int, unk: int) -> dict[str, float]:
    values, counts = np.unique(ids[(ids >= 0) & (ids < vocab)], return_counts=True)
    p = counts / counts.sum()
    return {"total": len(ids), "unk": int((ids == unk).sum()), "distinct": len(values),
            "entropy": float(-(p * np.log2(p)).sum())}


def test_audit_matches_brute_force_on_real_shards(real_shards: list[Path], tokenizer: Path):
    """Every figure of the audit equals a one-shot numpy computation over the same ids."""
    vocab, unk = read_tokenizer_vocab(tokenizer)
    corpus = Corpus("dev", tuple(real_shards), vocab, unk, "uint16", tokenizer)
    result = audit(corpus, progress=False, chunk_tokens=4096)
    ids = np.concatenate([open_shard(p, "uint16") for p in real_shards]).astype(np.int64)
    want = _brute(ids, vocab, 0)
    assert (vocab, unk) == (2048, 0)
    assert result.total_tokens == want["total"]
    assert result.unk_count == want["unk"]
    assert result.distinct_tokens == want["distinct"]
    assert result.entropy_bits == pytest.approx(want["entropy"], rel=1e-12)
    assert [s.tokens for s in result.shards] == [len(open_shard(p, "uint16")) for p in real_shards]
    assert result.out_of_range == 0
    assert result.entropy_ceiling_bits == 11.0


def test_uniform_entropy_is_log2_vocab(tmp_path: Path):
    """Each id equally often: the entropy is the ceiling log2|V| and every id is distinct."""
    vocab = 1000
    shard = _write_bin(tmp_path / "u.bin", np.tile(np.arange(vocab), 7))
    result = audit(Corpus("u", (shard,), vocab, 0, "uint16"), progress=False, chunk_tokens=333)
    assert result.entropy_bits == pytest.approx(math.log2(vocab), rel=1e-12)
    assert result.distinct_tokens == vocab
    assert result.unk_ratio == pytest.approx(1 / vocab)


def test_misloaded_tokenizer_turns_real_text_into_unk(tokenizer: Path, tmp_path: Path):
    """The control's faulty path: one <unk> per UTF-8 byte, the packer's EOS per document."""
    docs = _documents("eng_Latn.dev")
    shard = _write_bin(tmp_path / "bad.bin", pack(misloaded_tokenizer(tokenizer), docs, 1))
    result = audit(Corpus("bad", (shard,), 2048, 0, "uint16"), progress=False)
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    assert result.distinct_tokens == 2
    assert result.top_tokens == ((0, n_bytes), (1, len(docs)))
    assert result.unk_ratio == n_bytes / (n_bytes + len(docs))
    p = len(docs) / (n_bytes + len(docs))
    assert result.entropy_bits == pytest.approx(-(p * math.log2(p) + (1 - p) * math.log2(1 - p)))


@pytest.mark.slow
def test_demo_control_is_9999_percent_unk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          tokenizer: Path, request: pytest.FixtureRequest):
    """demo-corpus-unk, built through the workspace: exactly two ids, 99.99 % of them <unk>."""
    if "slow" not in request.config.getoption("markexpr"):
        pytest.skip("builds the whole demo control (about 10 s); opt in with -m slow")
    monkeypatch.setenv("FALSIFY_CACHE", str(tmp_path / "cache"))
    shutil.copytree(tokenizer.parent, tmp_path / "cache" / "demo" / "tokenizer")  # trained once
    corpus = Workspace.discover(Path(__file__)).resolve("demo-corpus-unk")
    result = audit(corpus, progress=False)
    assert (corpus.vocab_size, corpus.unk_id) == (2048, 0)
    assert result.distinct_tokens == 2
    assert round(100 * result.unk_ratio, 2) == 99.99
    assert len(corpus.shards) == 3


# --- the loader -------------------------------------------------------------------------------


def test_load_corpus_from_config_folder_glob_and_list(tmp_path: Path, tokenizer: Path):
    """Relative shard paths resolve against the root; vocab and unk come from tokenizer.json."""
    (tmp_path / "data").mkdir()
    for i in range(3):
        _write_bin(tmp_path / "data" / f"s{i}.bin", np.arange(10) + i)
    (tmp_path / "data" / "s0.json").write_text('{"dtype": "uint16"}')
    ws = _workspace(tmp_path, f'[tool.falsify.subjects.c]\nkind = "corpus"\nshards = "data"\n'
                              f'tokenizer = "{tokenizer}"\ndtype = "uint16"\n')
    corpus = ws.resolve("c")
    assert [p.name for p in corpus.shards] == ["s0.bin", "s1.bin", "s2.bin"]
    assert (corpus.vocab_size, corpus.unk_id) == (2048, 0)
    for shards in ("data/s[12].bin", ["data/s2.bin", "data/s1.bin", "data/s2.bin"]):
        spec = SubjectSpec("g", "corpus", {"shards": shards, "vocab_size": 20, "dtype": "uint16"})
        assert [p.name for p in load_corpus(spec, ws).shards] == ["s1.bin", "s2.bin"][
            :: 1 if isinstance(shards, str) else -1]


def test_npy_shards_are_flattened_and_out_of_range_ids_counted(tmp_path: Path):
    """A 2-D .npy of signed ids: negatives and ids >= |V| are counted apart, not binned."""
    ids = np.array([[0, 1, 2, -1], [5, 9, 10, 3]], dtype=np.int32)
    np.save(tmp_path / "a.npy", ids)
    result = audit(Corpus("n", (tmp_path / "a.npy",), 10, 0), progress=False)
    assert (result.total_tokens, result.out_of_range, result.distinct_tokens) == (8, 2, 6)
    wide = _write_bin(tmp_path / "w.bin", np.array([1, 2, 65535, 7]))
    narrow = audit(Corpus("w", (wide,), 8, 0, "uint16"), progress=False)
    assert (narrow.out_of_range, narrow.shards[0].out_of_range) == (1, 1)


def _raises(match: str, path: Path, dtype: str | None = "uint16") -> None:
    with pytest.raises(CorpusError, match=match) as info:
        open_shard(path, dtype)
    assert str(path) in str(info.value)


def test_bad_shards_name_the_file_and_the_fix(tmp_path: Path):
    """Empty, odd-length, unknown type, missing, untyped, float and mis-typed shards refuse."""
    (tmp_path / "empty.bin").write_bytes(b"")
    _raises("empty shard", tmp_path / "empty.bin")
    (tmp_path / "odd.bin").write_bytes(b"\x01\x00\x02")
    _raises("not a multiple of 2", tmp_path / "odd.bin")
    (tmp_path / "x.txt").write_text("1 2 3")
    _raises("unknown shard type", tmp_path / "x.txt")
    _raises("not found", tmp_path / "missing.bin")
    _write_bin(tmp_path / "plain.bin", np.arange(4))
    _raises("needs a dtype", tmp_path / "plain.bin", None)
    _raises("not supported", tmp_path / "plain.bin", "float32")
    (tmp_path / "plain.json").write_text('{"dtype": "uint32"}')
    _raises("make them agree", tmp_path / "plain.bin")
    np.save(tmp_path / "f.npy", np.ones(3, dtype=np.float32))
    _raises("not integer token ids", tmp_path / "f.npy", None)
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    _raises("not a readable .npy", tmp_path / "junk.npy", None)


@pytest.mark.parametrize(("options", "match"), [
    ({}, "'shards' must be"),
    ({"shards": "nowhere/*.bin", "vocab_size": 4}, "matches no"),
    ({"shards": "d"}, "give 'vocab_size'"),
    ({"shards": "d", "vocab_size": 70000}, "cannot hold ids"),
    ({"shards": "d", "vocab_size": 4, "unk_id": 4}, "outside the vocabulary"),
    ({"shards": "d", "vocab_size": True}, "non-negative integer"),
    ({"shards": "d", "vocab_size": 4, "dtype": 16}, "'dtype' must be a string"),
])
def test_bad_subject_options_name_the_config(tmp_path: Path, options: dict[str, object],
                                             match: str):
    """Each broken option gets a CorpusError that names where the subject is configured."""
    (tmp_path / "d").mkdir()
    _write_bin(tmp_path / "d" / "s.bin", np.arange(4))
    (tmp_path / "d" / "s.json").write_text('{"dtype": "uint16"}')
    ws = _workspace(tmp_path)
    with pytest.raises(CorpusError, match=match) as info:
        load_corpus(SubjectSpec("c", "corpus", options, "config"), ws)
    assert "tool.falsify.subjects.c" in str(info.value)


def test_tokenizer_and_vocab_size_must_agree(tmp_path: Path, tokenizer: Path):
    """A declared vocab_size that contradicts tokenizer.json is refused, naming both."""
    _write_bin(tmp_path / "s.bin", np.arange(4))
    spec = SubjectSpec("c", "corpus", {"shards": "s.bin", "dtype": "uint16", "vocab_size": 4096,
                                       "tokenizer": str(tokenizer)}, "demo")
    with pytest.raises(CorpusError, match=r"4096 disagrees with .*2048 entries"):
        load_corpus(spec, _workspace(tmp_path))
    (tmp_path / "bad.json").write_text(json.dumps({"model": {}}))
    with pytest.raises(CorpusError, match=r"no model\.vocab"):
        read_tokenizer_vocab(tmp_path / "bad.json")


# --- chunking ---------------------------------------------------------------------------------


@st.composite
def _arrays(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    dtype = draw(st.sampled_from(["uint16", "uint32", "int64"]))
    vocab = draw(st.integers(1, 300))
    lo = -5 if dtype == "int64" else 0
    values = draw(st.lists(st.integers(lo, vocab + 20), min_size=1, max_size=2000))
    return np.array(values, dtype=dtype), vocab


@settings(max_examples=150, deadline=None)
@given(data=_arrays(), chunk=st.integers(1, 2100))
@example(data=(np.array([3, 0, 65535], dtype=np.uint16), 4), chunk=1)
def test_chunked_counts_equal_one_shot(data: tuple[np.ndarray, int], chunk: int):
    """Any chunk size gives the counts, out-of-range total and entropy of one whole-array pass."""
    ids, vocab = data
    counts, out_of_range = count_ids(ids, vocab, chunk_tokens=chunk)
    keep = (ids.astype(np.int64) >= 0) & (ids.astype(np.int64) < vocab)
    want = np.bincount(ids[keep].astype(np.int64), minlength=vocab)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, want)
    assert out_of_range == int((~keep).sum())
    assert entropy_bits(counts) == pytest.approx(entropy_bits(want), abs=1e-12)
