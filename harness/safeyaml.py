"""The one YAML loader of the project: PyYAML's safe loader with limits.

``yaml.safe_load`` alone is safe against code execution but not against exhaustion: a few hundred
bytes of nested aliases ("billion laughs") compose into a small graph that every later walk (the
JSON Schema check, the canonical form that is hashed) expands to billions of nodes, and a key
written twice silently keeps the last value. Here the nodes are counted while they are composed,
each alias counting as the whole subtree it stands for, so a bomb is refused before anything
walks it:

* the file is read only up to ``max_bytes`` (and must be a regular file: a FIFO never ends);
* at most ``max_aliases`` alias uses, and ``max_nodes`` nodes with every alias expanded;
* at most ``max_depth`` levels of nesting (the composer recurses once per level);
* an alias may not point into the node that holds it (a cycle no JSON walk survives);
* a key written twice in one mapping is refused, naming both lines.

Every refusal is a :class:`YamlError` naming the file, the line and the limit. Contracts use
anchors legitimately (``&pair_measures`` in ``contracts/asr.yaml``); the limits sit far above
what such files need and far below what exhausts memory.

The counting lives in PyYAML's (pure-Python) composer and constructor, which
:class:`_LimitedLoader`, a ``yaml.SafeLoader`` subclass, extends. When PyYAML was built with
libyaml, the same composer runs over libyaml's parser events (:class:`_FastLimitedLoader`):
libyaml's own composer cannot count, but its scanner and parser are about 5x faster than
PyYAML's, and they were never the exposure (an event stream grows with the file's bytes only).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

__all__ = ["DEFAULT_LIMITS", "YamlError", "YamlLimits", "load_yaml", "load_yaml_text",
           "read_capped"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 1 << 20
    max_nodes: int = 100_000
    max_aliases: int = 1_000
    max_depth: int = 64


DEFAULT_LIMITS = YamlLimits()


class YamlError(ValueError):
    """A YAML file refused: ``where`` is ``file`` or ``file:line``; the message gives the fix."""

    def __init__(self, where: str, message: str) -> None:
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}")


class _Refused(yaml.MarkedYAMLError):
    """Raised inside the loader; turned into a YamlError with the file's name by the caller."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Counting(Composer, SafeConstructor):
    """A composer that counts nodes (aliases expanded), aliases and depth; a constructor that
    refuses duplicate keys. Mixed in before the parser that feeds it events."""

    anchors: dict[Any, Node]
    limits: YamlLimits
    peek_event: Callable[[], Any]  # from the parser mixed in after
    sizes: dict[str, int]  # anchor -> nodes in its subtree, aliases expanded

    def start_counting(self, limits: YamlLimits) -> None:
        self.limits = limits
        self.n_nodes = 0
        self.n_aliases = 0
        self.depth = 0
        self.sizes = {}

    def compose_document(self) -> Node | None:
        self.sizes = {}
        node: Node | None = super().compose_document()
        return node

    def _count(self, n: int, mark: Any) -> None:
        self.n_nodes += n
        if self.n_nodes > self.limits.max_nodes:
            msg = (f"more than {self.limits.max_nodes:,} YAML nodes with aliases expanded "
                   f"(the node limit); an alias bomb, or a file to split into several")
            raise _Refused(msg, mark)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            return self._compose_alias(event, parent, index)
        self.depth += 1
        if self.depth > self.limits.max_depth:
            msg = (f"nested more than {self.limits.max_depth} levels deep (the depth limit); "
                   f"flatten the structure")
            raise _Refused(msg, event.start_mark)
        self._count(1, event.start_mark)
        start = self.n_nodes
        node = super().compose_node(parent, index)
        self.depth -= 1
        if event.anchor is not None:
            self.sizes[event.anchor] = self.n_nodes - start + 1
        return node

    def _compose_alias(self, event: AliasEvent, parent: Node | None,
                       index: Any) -> Node | None:
        self.n_aliases += 1
        if self.n_aliases > self.limits.max_aliases:
            msg = (f"more than {self.limits.max_aliases:,} alias uses (the alias limit); "
                   f"write the values out or split the file")
            raise _Refused(msg, event.start_mark)
        anchor = str(event.anchor)
        if anchor in self.anchors and anchor not in self.sizes:
            msg = (f"alias *{anchor} points into the node that holds it (a cycle); "
                   f"an alias may only repeat a finished node")
            raise _Refused(msg, event.start_mark)
        self._count(self.sizes.get(anchor, 0), event.start_mark)
        node = super().compose_node(parent, index)
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. !!timestamp 2020-13-45
            tag = str(node.tag).rsplit(":", 1)[-1]
            msg = f"value {str(node.value)[:40]!r} cannot be read as {tag} ({exc}); fix it"
            raise _Refused(msg, node.start_mark) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            self._refuse_duplicate_keys(node)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def _refuse_duplicate_keys(self, node: MappingNode) -> None:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            try:
                first: yaml.Mark = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # unhashable: the constructor refuses it with its own message
            if first is not key_node.start_mark:
                msg = (f"key {key!r} is written twice in one mapping (first at line "
                       f"{first.line + 1}); YAML would silently keep the last value: keep one")
                raise _Refused(msg, key_node.start_mark)


class _LimitedLoader(_Counting, yaml.SafeLoader):
    """PyYAML's SafeLoader with the counting composer."""

    def __init__(self, stream: str, limits: YamlLimits) -> None:
        yaml.SafeLoader.__init__(self, stream)
        self.start_counting(limits)


_LOADER: Any = _LimitedLoader
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastLimitedLoader(_Counting, CParser, Resolver):
        """libyaml's parser events into the counting composer (never libyaml's composer)."""

        get_single_node = Composer.get_single_node
        get_node = Composer.get_node
        check_node = Composer.check_node

        def __init__(self, stream: str, limits: YamlLimits) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self.start_counting(limits)

    _LOADER = _FastLimitedLoader


def read_capped(path: Path, limits: YamlLimits = DEFAULT_LIMITS) -> bytes:
    """The bytes of ``path``, refused unless it is a regular file of at most ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except OSError as exc:
        raise YamlError(str(path), f"cannot be read ({exc.strerror}); fix the path") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise YamlError(str(path), "is not a regular file; a YAML file must be one")
        data = fh.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        msg = (f"is {max(info.st_size, len(data)):,} bytes, over the {limits.max_bytes:,}-byte "
               f"limit for one YAML file; split it into several")
        raise YamlError(str(path), msg)
    return data


def load_yaml_text(text: str, where: str, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """The single YAML document in ``text``; ``where`` names its file in every error."""
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise YamlError(where, f"is over the {limits.max_bytes:,}-byte limit for one YAML "
                               f"file; split it into several")
    loader = None
    try:
        loader = _LOADER(text, limits)  # the reader may refuse control characters at once
        return loader.get_single_data()
    except _Refused as exc:
        raise YamlError(_at(where, exc.problem_mark), str(exc.problem)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(_at(where, mark),
                        f"not valid YAML: {exc.problem or exc.context}; fix the syntax") from None
    except yaml.YAMLError as exc:
        raise YamlError(where, f"not valid YAML: {exc}; fix the syntax") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml(path: Path, data: bytes | None = None,
              limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """The YAML document in ``path`` (or in ``data``, its bytes already read), with limits."""
    raw = read_capped(path, limits) if data is None else data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(str(path), f"not UTF-8 text (byte {exc.start}); save it as "
                                   f"UTF-8") from None
    return load_yaml_text(text, str(path), limits)


def _at(where: str, mark: yaml.Mark | None) -> str:
    return f"{where}:{mark.line + 1}" if mark is not None else where
