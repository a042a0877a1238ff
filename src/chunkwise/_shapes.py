"""Reading a chunk as the last one of its shape with new strings: the bytes path's fast lane.

A streamed answer is thousands of chunks that differ only in a few strings: each text chunk of an
OpenAI stream is the one before it with another ``content`` (and another ``obfuscation``); the
envelope, the choice's index, the nulls, are the same bytes every time. Parsing each payload whole
builds the same dicts again, and costs about as much as merging them. A ``Shape`` remembers one
payload as literal text around its string slots::

    {"id":"chatcmpl-1",...,"choices":[{"index":0,"delta":{"content":"|slot|"},...}],"obfuscation":"|slot|"}

and reads a payload that has exactly those literals, in order, with a JSON string token between
each two, by matching the literals and decoding the tokens alone (``json.decoder.scanstring``).

Why the reading is exact. A JSON string token ends at its first unescaped quote and can hold no
other token, so a payload made of the same literals with other string tokens in the slots has the
same token sequence but for those strings: it parses to the remembered chunk with the slots' values
replaced. A shape is made only from a payload pydantic-core parsed, and only once proved: the
payload with a marker string in each slot must parse to exactly the chunk with the markers in those
places, the markers holding a character no string of the chunk holds (a slot found in the wrong
place, or overridden by a duplicate key, fails the proof). Anything
a slot cannot be read as (an invalid escape, a control character, a lone surrogate, which
pydantic-core refuses and the careful path reports or replaces) makes the payload not match, and it
is parsed as usual.

Why skipping the chunk's other fields is exact. A slot is a string under ``choices[0]`` (the text,
thinking, refusal or tool-call arguments of the one choice the chunk carries) or an
``obfuscation``. The choice entry is rebuilt with the slots' values and merged by ``ChoiceState``
as any entry is, so every per-choice rule applies. Only the top level is skipped, and a shape is
made only when applying that level again changes nothing: envelope fields keep their first
non-empty value, so a second application of the same values is a no-op; ``usage`` must be null and
``error`` empty. Unknown top-level fields are merged last-wins, which is a no-op only right after the
same shape was applied: a shape with such a field (not null or "") is used only when the chunk before
was of the same shape. The assembler uses shapes only while no choice has finished and ``[DONE]`` has
not come (late data is checked chunk by chunk, and those checks read the whole chunk).
"""

from __future__ import annotations

import json.decoder
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

if TYPE_CHECKING:
    from ._choice import ChoiceState
    from ._events import Event

__all__ = ["Shape", "Shapes"]

# The standard library's reader of one JSON string token (C in CPython): from just past the opening
# quote, the decoded string and the index past the closing quote; ValueError for anything else.
# (Public in `json.decoder` though missing from its type stubs.)
_scanstring: Callable[[str, int, bool], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009
_SURROGATE = re.compile("[\ud800-\udfff]")

# Strings under `choices[0]` a chunk brings anew each time (its answer), by path within the entry.
_SLOT_KEYS = frozenset(("content", "reasoning_content", "reasoning", "refusal", "obfuscation"))

# Shapes kept per stream: one per choice of an n=3 stream, and a spare for a change of phase.
_KEPT = 4
# Payloads parsed the careful way before the first shape is made: making one costs a few parses,
# which a short stream would not earn back (measured: a stream of 40 chunks loses about 15% if it
# makes one at the 32nd; from about 100 chunks on, streams gain).
_FIRST = 64
# Tries (a chunk compared with the last of its choice, a shape made) with no shape used in between,
# before the stream is taken not to repeat: enough to make a shape for each choice of an n=4 stream.
_FRUITLESS = 5


class Shape:
    """One payload's literals around its slots, and how to rebuild its choice entry from them."""

    __slots__ = ("alone", "call", "copies", "entry", "index", "literals", "slots", "text")

    def __init__(
        self,
        literals: tuple[str, ...],
        entry: dict[str, Any],
        slots: tuple[tuple[Any, ...] | None, ...],
        index: int,
        alone: bool,
    ) -> None:
        self.literals = literals  # the first ends with a slot's opening quote; the others follow a slot
        self.entry = entry  # choices[0] as parsed; never changed (a read copies what it changes)
        # Per slot: its path inside the entry, or None for a top-level `obfuscation` (ignored: it
        # is padding). The containers on those paths are copied for each read, outermost first.
        self.slots = slots
        inner = {path[:depth] for path in slots if path for depth in range(1, len(path))}
        self.copies = sorted(inner, key=len)
        self.index = index  # the entry's choice index
        self.alone = alone  # has a top-level field merged last-wins: usable only right after itself
        # The two commonest entries are rebuilt smaller, as an entry `ChoiceState.apply` merges the
        # same way (see `_simple`): the slot that holds the text, or the arguments and call index.
        self.text: int | None = None
        self.call: tuple[int, int] | None = None
        _simple(self)

    def read(self, payload: str) -> list[str] | None:
        """The values of the slots of ``payload`` if it has this shape, else None."""
        literals = self.literals
        # Both ends first: a payload of another shape fails there, before any string is decoded.
        if not (payload.startswith(literals[0]) and payload.endswith(literals[-1])):
            return None
        position = len(literals[0])
        values = []
        try:
            for literal in literals[1:]:
                value, position = _scanstring(payload, position, True)
                if not payload.startswith(literal, position):
                    return None
                position += len(literal)
                if not value.isascii() and _SURROGATE.search(value):
                    return None  # pydantic-core refuses a lone surrogate: the careful path reads it
                values.append(value)
        except ValueError:  # not a string token there: another shape, or malformed
            return None
        if position != len(payload):
            return None
        return values

    def apply(self, choice: ChoiceState, values: list[str], out: list[Event] | None) -> None:
        """Merge the payload read as ``values`` into its choice, as its whole entry would be."""
        if self.text is not None:
            choice.apply({"delta": {"content": values[self.text]}}, out)
        elif self.call is not None:
            # What the entry's delta holds, and all `ChoiceState.apply` does with such a delta.
            slot, index = self.call
            choice.tools.apply({"index": index, "function": {"arguments": values[slot]}}, out)
        else:
            choice.apply(self.rebuild(values), out)

    def rebuild(self, values: list[str]) -> dict[str, Any]:
        entry = self.entry.copy()
        for path in self.copies:
            parent = _at(entry, path[:-1])
            parent[path[-1]] = parent[path[-1]].copy()
        for slot, value in zip(self.slots, values, strict=True):
            if slot is not None:
                _at(entry, slot[:-1])[slot[-1]] = value
        return entry


def _simple(shape: Shape) -> None:
    """Whether the entry is a plain text delta or a bare arguments fragment (OpenAI's, and most
    servers'), which ``ChoiceState.apply`` takes by its hot path whatever else the entry holds:
    nothing else in it does anything once the role is set (the entry's other fields are null or
    padding; its index was used to find the choice). Then a read builds only what that path reads."""
    entry = shape.entry
    if not _PLAIN_ENTRY.issuperset(entry) or entry.get("logprobs") is not None:
        return
    delta = entry["delta"]
    role = delta.get("role")
    if role is not None and (type(role) is not str or not role):
        return  # an empty role does not set it: the delta is then read field by field
    rest = len(delta) - (role is not None)
    slots = shape.slots
    if rest == 1 and type(delta.get("content")) is str:
        shape.text = slots.index(("delta", "content"))
        return
    calls = delta.get("tool_calls")
    if rest == 1 and type(calls) is list and len(calls) == 1:
        fragment = calls[0]
        if (
            type(fragment) is dict
            and len(fragment) == 2
            and type(fragment.get("index")) is int
            and fragment.get("function") is not None
            and type(fragment["function"]) is dict
            and list(fragment["function"]) == ["arguments"]
        ):
            shape.call = (slots.index(("delta", "tool_calls", 0, "function", "arguments")), fragment["index"])


_PLAIN_ENTRY = frozenset(("index", "delta", "logprobs", "finish_reason", "obfuscation"))


class Shapes:
    """The shapes of a stream's recent payloads, and when it is worth making another.

    Making a shape costs a few parses of its payload and pays off only over the chunks that repeat
    it, so a shape is made only on evidence that chunks repeat: a payload whose chunk has the same
    fields and the same values outside its slots as the last chunk of the same choice (``_sketch``).
    Tries that find no such evidence, or make shapes that go unused, are counted; past a few, the
    shapes are dropped (so that no payload is tried against dead ones) and none is tried for as many
    payloads as the stream has had: a stream that does not repeat pays a few tries per doubling of
    its length, and one shorter than ``_FIRST`` payloads pays nothing at all.
    """

    __slots__ = ("envelope", "fruitless", "kept", "last", "matched", "seen", "sketches", "wait")

    def __init__(self, envelope: frozenset[str]) -> None:
        self.envelope = envelope  # top-level fields kept first-non-empty-wins: applying again is a no-op
        self.kept: list[Shape] = []
        # The shape of the chunk applied last, if it had one. The assembler clears it whenever it
        # applies a chunk any other way: an `alone` shape is usable only right after itself.
        self.last: Shape | None = None
        # The `alone` shape that read the payload `read` was last given but could not be used: the
        # payload is then applied the careful way, and `learn` makes it the last without reading again.
        self.matched: Shape | None = None
        self.fruitless = 0  # tries since a shape was last used
        self.wait = _FIRST  # payloads to let pass before the next try
        self.seen = 0  # payloads applied the careful way
        self.sketches: dict[int, Any] = {}  # choice index -> the sketch of its last careful chunk

    def read(self, payload: str) -> tuple[Shape, list[str]] | None:
        """A kept shape that reads ``payload``, and the values of its slots; None if none does."""
        self.matched = None
        last = self.last
        if last is not None:
            values = last.read(payload)
            if values is not None:
                self.fruitless = 0
                return last, values
        for shape in self.kept:
            if shape is last:
                continue
            values = shape.read(payload)
            if values is not None:
                if shape.alone:
                    self.matched = shape
                    return None  # its last-wins top-level field must be applied again: careful path
                self.last = shape
                self.fruitless = 0
                return shape, values
        return None

    def learn(self, payload: str, chunk: dict[str, Any]) -> None:
        """``chunk``, parsed from ``payload``, was just applied the careful way: remember its shape."""
        self.seen += 1
        if self.matched is not None:
            self.last, self.matched = self.matched, None  # the chunk just applied was of this shape
            return
        if self.wait:
            self.wait -= 1
            return
        found = _eligible(chunk, self.envelope)
        if found is None:
            return  # a finish, usage, several choices: not the body of a stream
        entry, alone = found
        index = entry.get("index", 0)
        sketch = _sketch(chunk, entry)
        before = self.sketches.get(index)
        self.sketches[index] = sketch
        if before is None:
            return  # the first chunk of this choice seen: nothing to compare it with yet
        shape = _make(payload, chunk, entry, alone) if before == sketch else None
        if shape is not None:
            if len(self.kept) >= _KEPT:
                self.kept.pop(0)
            self.kept.append(shape)
            self.last = shape
        self.fruitless += 1
        if self.fruitless >= _FRUITLESS:
            self.fruitless = 0
            self.kept.clear()
            self.last = None
            self.sketches.clear()
            self.wait = self.seen


def _sketch(chunk: dict[str, Any], entry: dict[str, Any]) -> Any:
    """What two chunks of one shape share: every field but the slots, with the top level's and the
    entry's values, and the delta's field names. (Equal sketches are evidence, not proof: the
    shape made is checked in full.)"""
    top = chunk.copy()
    del top["choices"]
    top.pop("obfuscation", None)
    inner = entry.copy()
    del inner["delta"]
    inner.pop("obfuscation", None)
    return top, inner, tuple(entry["delta"])


def _eligible(chunk: dict[str, Any], envelope: frozenset[str]) -> tuple[dict[str, Any], bool] | None:
    """The chunk's one choice entry and whether it has a last-wins top-level field, if applying the
    chunk's top level again would change nothing (see the module docstring); else None."""
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    entry = choices[0]
    if type(entry) is not dict or type(entry.get("index", 0)) is not int:
        return None
    if entry.get("finish_reason") is not None or type(entry.get("delta")) is not dict:
        return None  # a finish ends the use of shapes; a delta is what a shape brings
    alone = False
    for key, value in chunk.items():
        if key in envelope or key == "choices" or key == "obfuscation":
            continue
        if key == "usage":
            if value is not None:
                return None  # merged last-wins, and reported by an event each time
        elif key == "error":
            if value:
                return None
        elif value is not None and value != "":
            alone = True  # an unknown field: merged last-wins (null and "" are first-wins)
    return entry, alone


def _make(payload: str, chunk: dict[str, Any], entry: dict[str, Any], alone: bool) -> Shape | None:
    """The shape of ``payload``, whose parse ``chunk`` was just applied; None if it has none.

    The slots are found by their keys, in the order the parsed value holds them (document order),
    each as ``"key"``, ``:`` and a string token; then the mapping is proved by parsing the payload
    with a marker in each slot: the parse must be the chunk with exactly those strings replaced.
    A key spelled with escapes, or found elsewhere first, fails the proof: no shape, no harm."""
    found = _slot_paths(chunk, entry)
    literals = []
    end = 0
    try:
        for path in found:
            start, end_of_slot = _token_after(payload, path[-1], end)
            literals.append(payload[end : start + 1])
            end = end_of_slot
    except (ValueError, IndexError):  # no such key, not followed by a string: not this mapping
        return None
    literals.append(payload[end:])
    slots = tuple(path[2:] if path[0] == "choices" else None for path in found)
    if all(slot is None for slot in slots):
        return None
    if 2 * sum(map(len, literals)) < len(payload):
        # Mostly slot text (long text in each chunk): reading it costs about what parsing it does,
        # so the shape would save little, and making it costs a few parses of a long payload.
        return None
    # The markers hold DEL (which may stand raw in a JSON string), and no string of the chunk does:
    # so a marker found at a slot's path can only have come from the token put there, and the proof
    # holds. (A chunk that held a marker's text could pass it with the slot found in the wrong
    # place: a hostile review did so with a duplicate key.)
    if "\x7f" in payload or "\\u007f" in payload or "\\u007F" in payload:
        return None
    markers = [f"\x7f{number}" for number in range(len(found))]
    marked = literals[0] + "".join(f'{m}"{lit}' for m, lit in zip(markers, literals[1:], strict=True))
    try:
        proof = from_json(marked, allow_inf_nan=False)
        for path, marker in zip(found, markers, strict=True):
            parent = _at(proof, path[:-1])
            if parent[path[-1]] != marker:
                return None
            parent[path[-1]] = _at(chunk, path)
    except (ValueError, LookupError, TypeError):
        return None
    if proof != chunk:
        return None
    # The proof, its slots restored, is the shape's own copy of the entry (a read copies what it
    # changes; the leaves are strings, never changed).
    return Shape(tuple(literals), proof["choices"][0], slots, entry.get("index", 0), alone)


def _slot_paths(chunk: dict[str, Any], entry: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The paths of the chunk's slots in document order: ``obfuscation`` at the top and in the
    entry, and under ``delta`` the text, thinking and refusal, and each call's arguments (or input)."""
    paths: list[tuple[Any, ...]] = []
    for key, value in chunk.items():
        if key == "obfuscation" and type(value) is str:
            paths.append((key,))
        elif key == "choices":
            for name, field in entry.items():
                if name == "obfuscation" and type(field) is str:
                    paths.append(("choices", 0, name))
                elif name == "delta":
                    for part, text in field.items():
                        if part in _SLOT_KEYS and type(text) is str:
                            paths.append(("choices", 0, "delta", part))
                        elif part == "tool_calls" and type(text) is list:
                            paths += _call_slots(text)
    return paths


def _call_slots(fragments: list[Any]) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = []
    for number, fragment in enumerate(fragments):
        if type(fragment) is not dict:
            continue
        for kind, body in fragment.items():
            if (kind == "function" or kind == "custom") and type(body) is dict:
                wanted = "arguments" if kind == "function" else "input"
                for name, value in body.items():
                    if name == wanted and type(value) is str:
                        paths.append(("choices", 0, "delta", "tool_calls", number, kind, name))
    return paths


_SPACE = " \t\r\n"


def _token_after(payload: str, key: str, start: int) -> tuple[int, int]:
    """Where the string token after ``"key":`` (from ``start`` on) begins and ends; raises
    ValueError (no such key, or not followed by a string) or IndexError (the payload ends)."""
    at = payload.index(f'"{key}"', start) + len(key) + 2
    while payload[at] in _SPACE:
        at += 1
    if payload[at] != ":":
        raise ValueError(key)
    at += 1
    while payload[at] in _SPACE:
        at += 1
    if payload[at] != '"':
        raise ValueError(key)
    return at, _scanstring(payload, at + 1, True)[1]


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value
