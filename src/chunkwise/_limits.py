"""What one stream may hold, and the checks every room applies to the values it keeps.

``StreamAssembler`` makes one ``Limits`` per stream and hands it to every choice; the helpers
below turn the checks of ``_merge`` and ``_text`` into ``Malformed``, the readers' failure, so a
value that breaks a limit fails the stream where it enters (docs/behaviour.md §11).
"""

from __future__ import annotations

from typing import Any

from ._merge import Unsafe, merge_into, safe_json
from ._payloads import Malformed
from ._text import Tally, clean

__all__ = ["Limits", "keep", "merge", "refuse_reserved", "small_int", "string_field"]

_INT64 = 2**63


class Limits:
    """The stream's limits, and the counters its rooms share (``tally``)."""

    __slots__ = ("max_depth", "max_tool_calls", "tally")

    def __init__(self, max_depth: int, max_tool_calls: int) -> None:
        self.max_depth = max_depth
        self.max_tool_calls = max_tool_calls
        self.tally = Tally()


def small_int(value: Any) -> bool:
    """An integer field the result can hold (an index, a timestamp): not a bool, within 64 bits."""
    return type(value) is int and -_INT64 <= value < _INT64


def string_field(value: Any, field: str, limits: Limits) -> str:
    """A string field (id, name, type, role, finish_reason), as valid Unicode."""
    if type(value) is not str:
        raise Malformed(f"`{field}` must be a string, not {type(value).__name__}")
    return value if value.isascii() else clean(value, limits.tally)


def refuse_reserved(mapping: dict[str, Any], reserved: frozenset[str], where: str) -> None:
    """Refuse a server field named like a field the result itself declares at that level (a
    choice-level ``message``, an envelope ``done_received``): kept, it would be dropped or would
    overwrite ours in the dump; the rule is that nothing a server sends is lost silently."""
    clash = reserved.intersection(mapping)
    if clash:
        raise Malformed(f"`{where}.{min(clash)}` is a name the result reserves for its own field")


def keep(value: Any, limits: Limits) -> Any:
    """A value kept as it came, checked (``safe_json``); a failure is a malformed chunk."""
    try:
        return safe_json(value, limits.max_depth, limits.tally)
    except Unsafe as exc:
        raise Malformed(str(exc)) from None


def merge(target: dict[str, Any], source: dict[str, Any], limits: Limits, whole: bool = False) -> None:
    """Merge by ``_merge``'s rule. ``whole``: ``source`` is itself a kept value (an ``extra_content``),
    so it counts as one level of nesting; otherwise it only gathers fields, each a kept value."""
    try:
        merge_into(target, source, limits.max_depth - whole, limits.tally)
    except Unsafe as exc:
        raise Malformed(str(exc)) from None
