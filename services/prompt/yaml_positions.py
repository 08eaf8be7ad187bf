"""Load YAML while remembering the line of every key, so catalog errors can point at it.

PyYAML's ``safe_load`` throws node positions away; an operator editing a long catalog
needs "line 42: models.eros.default_style ..." rather than a bare pydantic location.
Duplicate keys are refused here because PyYAML would silently keep the last one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

#: A location inside the document: mapping keys and sequence indexes from the root.
KeyPath = tuple[str | int, ...]


class YamlDocumentError(ValueError):
    """The text is not a YAML document we accept; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class PositionedDocument:
    """Plain Python data plus the 1-based line where each key path's value starts."""

    data: Any
    lines: Mapping[KeyPath, int]

    def line_of(self, path: KeyPath) -> int:
        """Line of ``path``, or of its nearest ancestor that has one (1 for the root)."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)


def load_positioned(text: str) -> PositionedDocument:
    """Parse ``text`` as one YAML document and record the line of every key and item."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return PositionedDocument(data=None, lines={(): 1})
        lines: dict[KeyPath, int] = {}
        _index(loader, root, (), lines)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlDocumentError(f"{exc.problem or exc}", line) from exc
    except yaml.YAMLError as exc:
        raise YamlDocumentError(str(exc), 0) from exc
    finally:
        loader.dispose()
    return PositionedDocument(data=data, lines=lines)


def _index(loader: yaml.SafeLoader, node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str | int):
                raise YamlDocumentError(f"mapping keys must be strings, got {key!r}", key_line)
            if key in seen:
                raise YamlDocumentError(
                    f"duplicate key {key!r} (first defined on line {seen[key]})", key_line
                )
            seen[key] = key_line
            _index(loader, value_node, (*path, str(key) if not isinstance(key, str) else key), lines)
            # A key's line is where the key is written, which is where an operator looks.
            lines[(*path, str(key))] = key_line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(loader, item, (*path, index), lines)
