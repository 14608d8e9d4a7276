"""Cross-script bridges (``kind = "bridge"``): Bambara in Latin script carried into N'Ko.

A bridge subject pairs a source file (Latin-script lines) with a reference file (the same lines
in N'Ko, line by line) and names the bridge that carries one into the other:

- ``bam-latn-nqo``: a rule-based transliterator of the Bambara Latin orthography into N'Ko
  letters. Latin Bambara writes no tone and N'Ko writes tone on every vowel, so no
  transliteration can restore it: the bridge writes the segmental skeleton (consonants, vowels,
  the nasal mark, digits, the N'Ko comma), and :func:`skeleton` removes tone and length marks from
  the reference before the two are compared. Written by hand because no maintained library
  transliterates Bambara into N'Ko; the table below is the standard letter correspondence.
- ``none``: the source unchanged, the bridge that does nothing (a negative control).

:func:`nko_to_latin` is the table read backwards; the demo uses it to write the N'Ko reference in
Latin letters, a source whose clean rate shows what a working bridge scores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.workspace import SubjectSpec, Workspace

__all__ = ["BRIDGES", "Bridge", "BridgeError", "bam_latn_to_nqo", "load_bridge", "nko_to_latin",
           "skeleton"]


class BridgeError(ValueError):
    """A bridge subject that cannot be read: a missing file, unaligned lines, an unknown bridge."""


_VOWELS = {"a": "\u07ca", "e": "\u07cb", "i": "\u07cc", "ɛ": "\u07cd", "u": "\u07ce",
           "o": "\u07cf", "ɔ": "\u07d0"}
_DIGRAPHS = {"ny": "\u07e2", "gb": "\u07dc", "rr": "\u07da"}
_CONSONANTS = {"b": "\u07d3", "p": "\u07d4", "t": "\u07d5", "j": "\u07d6", "c": "\u07d7",
               "d": "\u07d8", "r": "\u07d9", "s": "\u07db", "g": "\u07dc", "f": "\u07dd",
               "k": "\u07de", "l": "\u07df", "m": "\u07e1", "ɲ": "\u07e2", "n": "\u07e3",
               "h": "\u07e4", "w": "\u07e5", "y": "\u07e6", "z": "\u07db", "v": "\u07dd",
               "x": "\u07de", "q": "\u07de"}
_SYLLABIC_N = "\u07d2"
_NASAL = "\u07f2"
_PUNCT = {",": "\u07f8", "!": "\u07f9"}
_MARKS = re.compile("[\u07eb-\u07f1\u07f3-\u07f5\u07fa]")  # tone, length, lajanyalan


def _is_vowel(ch: str) -> bool:
    return ch in _VOWELS


def bam_latn_to_nqo(text: str) -> str:
    """Bambara Latin orthography to N'Ko letters, no tone. Doubled vowels (length) are written
    once; ``n`` after a vowel and before no vowel is the nasal mark; ``n`` between consonants or
    alone is the syllabic N; digits map to N'Ko digits in the same logical order."""
    src = text.lower().replace("ŋ", "n")
    out: list[str] = []
    i = 0
    while i < len(src):
        ch = src[i]
        pair = src[i:i + 2]
        nxt = src[i + 1] if i + 1 < len(src) else ""
        if pair in _DIGRAPHS:
            out.append(_DIGRAPHS[pair])
            i += 2
            continue
        if _is_vowel(ch):
            if not (out and out[-1] == _VOWELS[ch] and i > 0 and src[i - 1] == ch):
                out.append(_VOWELS[ch])
        elif ch == "n" and not _is_vowel(nxt):
            prev = src[i - 1] if i > 0 else ""
            out.append(_NASAL if _is_vowel(prev) else _SYLLABIC_N)
        elif ch in _CONSONANTS:
            out.append(_CONSONANTS[ch])
        elif ch.isdigit() and ch.isascii():
            out.append(chr(0x07C0 + int(ch)))
        elif ch in _PUNCT:
            out.append(_PUNCT[ch])
        elif ch in "'’":
            pass
        else:
            out.append(ch)
        i += 1
    return "".join(out)


_BACK = {**{v: k for k, v in _VOWELS.items()}, "\u07d3": "b", "\u07d4": "p", "\u07d5": "t",
         "\u07d6": "j", "\u07d7": "c", "\u07d8": "d", "\u07d9": "r", "\u07da": "rr",
         "\u07db": "s", "\u07dc": "g", "\u07dd": "f", "\u07de": "k", "\u07df": "l",
         "\u07e0": "n", "\u07e1": "m", "\u07e2": "ɲ", "\u07e3": "n", "\u07e4": "h",
         "\u07e5": "w", "\u07e6": "y", "\u07e7": "ɲ", _SYLLABIC_N: "n", _NASAL: "n",
         "\u07f8": ",", "\u07f9": "!"}


def nko_to_latin(text: str) -> str:
    """N'Ko letters to Latin letters (tone and length marks dropped): the table read backwards."""
    out = []
    for ch in skeleton(text):
        if "\u07c0" <= ch <= "\u07c9":
            out.append(str(ord(ch) - 0x07C0))
        else:
            out.append(_BACK.get(ch, ch))
    return "".join(out)


def skeleton(text: str) -> str:
    """N'Ko text without tone, length and lajanyalan marks: what a toneless script can carry."""
    return _MARKS.sub("", text)


def _identity(text: str) -> str:
    return text


BRIDGES: Mapping[str, Callable[[str], str]] = {"bam-latn-nqo": bam_latn_to_nqo,
                                                "none": _identity}


@dataclass(frozen=True)
class Bridge:
    """A live bridge subject: aligned source and reference lines and the bridge to judge."""

    id: str
    name: str
    source: Path
    reference: Path
    sources: Sequence[str]
    references: Sequence[str]

    def carry(self) -> list[str]:
        """Every source line through the bridge."""
        fn = BRIDGES[self.name]
        return [fn(line) for line in self.sources]


def _lines(path: Path, subject: str, role: str) -> list[str]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        msg = f"subject {subject!r}: {role} file {path} does not exist; build or fetch it"
        raise BridgeError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"subject {subject!r}: {role} file {path} is not UTF-8 (byte {exc.start})"
        raise BridgeError(msg) from None
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def read_bridge(subject: str, name: str, source: Path, reference: Path) -> Bridge:
    if name not in BRIDGES:
        msg = f"subject {subject!r}: unknown bridge {name!r}; known: {', '.join(BRIDGES)}"
        raise BridgeError(msg)
    sources, references = _lines(source, subject, "source"), _lines(reference, subject,
                                                                    "reference")
    if len(sources) != len(references):
        msg = (f"subject {subject!r}: {source} has {len(sources)} lines but {reference} has "
               f"{len(references)}; a bridge subject needs the same sentence on line i of both")
        raise BridgeError(msg)
    for i, (s, r) in enumerate(zip(sources, references, strict=True), 1):
        if not s.strip() or not r.strip():
            which = source if not s.strip() else reference
            msg = (f"subject {subject!r}: {which} line {i} is blank; every line must hold its "
                   f"sentence (remove the line from both files)")
            raise BridgeError(msg)
    return Bridge(subject, name, source, reference, tuple(sources), tuple(references))


def load_bridge(spec: SubjectSpec, workspace: Workspace) -> Bridge:
    """Workspace loader for ``kind = "bridge"``: options ``source``, ``reference`` (UTF-8 text
    files, aligned line by line) and ``bridge`` (``bam-latn-nqo`` or ``none``)."""
    del workspace
    options: Mapping[str, Any] = spec.options
    return read_bridge(spec.id, str(options.get("bridge", "bam-latn-nqo")), spec.path("source"),
                       spec.path("reference"))
