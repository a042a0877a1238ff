"""The bytes path's fast lane (``_shapes``): a payload read as the last one of its shape with new
strings must change nothing a user can see. Every test runs the same bytes, cut the same way, with
shapes made from the first payload on (``eager``) and with none (``off``), and compares all of it:
the events of every call, the completion, or the error with its message, position, partial and
events. Hostile strings go into the slots (escapes, control characters, lone surrogates), and the
rest of the chunk is varied where a shape must not be used (a last-wins field, a finish, [DONE])."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chunkwise
from chunkwise import _shapes, strategies
from chunkwise._shapes import Shape

from helpers import FIXTURES, cut_at, real_recordings, shared_dir

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def shapes(mode: str) -> Iterator[list[int]]:
    """``eager``: shapes from the first payload; ``off``: never; ``default``: as shipped. Yields a list that counts the
    payloads read by a shape (so a test can show the fast lane was taken, not bypassed)."""
    first, apply = _shapes._FIRST, Shape.apply
    used: list[int] = []

    def counted(self: Shape, *args: Any) -> None:
        used.append(1)
        apply(self, *args)

    if mode != "default":
        _shapes._FIRST = 0 if mode == "eager" else 10**18
    Shape.apply = counted  # type: ignore[method-assign]
    try:
        yield used
    finally:
        _shapes._FIRST, Shape.apply = first, apply  # type: ignore[method-assign]


def outcome(pieces: list[bytes], **options: Any) -> tuple[Any, ...]:
    """Everything a user sees of feeding ``pieces``: events per call, then the completion or the error."""
    assembler = chunkwise.StreamAssembler(**options)
    seen: list[Any] = []
    try:
        for piece in pieces:
            seen.append(assembler.feed_bytes(piece))
        seen.append(assembler.close())
        return ("ok", seen, assembler.completion.model_dump())
    except chunkwise.ChunkwiseError as error:
        partial = error.partial.model_dump() if error.partial is not None else None
        detail = (
            getattr(error, "position", None),
            getattr(error, "raw", None),
            getattr(error, "offset", None),
        )
        return ("error", seen, type(error), error.message, detail, partial, error.events)


def both(pieces: list[bytes], **options: Any) -> tuple[tuple[Any, ...], int]:
    """The outcome with shapes and without; asserts they are equal; returns it and the shape reads."""
    with shapes("off") as unused:
        expected = outcome(pieces, **options)
    assert not unused
    with shapes("eager") as used:
        got = outcome(pieces, **options)
    assert got == expected
    return got, len(used)


# ---------------------------------------------------------------- streams that repeat a shape

# Hostile slot text: every code point class, escapes JSON may spell several ways.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12) | st.sampled_from(
    ["", '"', "\\", "\\\\", "\n", "\u2028", "\x7f", "é", "😀", "<think>", "</think>", "<", "a</th"]
)
# Tokens written by hand where json.dumps would not write them: the other spellings of a string,
# and what JSON forbids (a raw control character, a bad escape, a lone surrogate, not a string).
RAW = st.sampled_from(
    [
        '"\\/"',
        '"\\u0041\\u00e9"',
        '"\\ud83d\\ude00"',
        '"\\ud800"',
        '"a\\udfff"',
        '"\x01"',
        '"\t"',
        '"\\x"',
        '"\\u12"',
        "null",
        "12",
        '{"a":1}',
        '"a" ',
        '"unterminated',
        '"a""b"',
    ]
)


def render(value: Any, draw: st.DrawFn) -> str:
    return json.dumps(
        value, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    )


SLOTS = "\u0000slot\u0000"  # where a drawn token goes in a chunk's JSON text
DUPLICATE = re.compile(r'"(?:content|arguments|reasoning_content)": ?')  # a slot's key, to write twice


def _base(kind: str, index: int, top: dict[str, Any]) -> dict[str, Any]:
    """A chunk of one of the common shapes, with SLOTS where its changing strings are."""
    envelope = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m"}
    entry: dict[str, Any] = {"index": index}
    if kind == "openai":
        entry.update(delta={"content": SLOTS}, logprobs=None, finish_reason=None)
        return {**envelope, **top, "choices": [entry], "obfuscation": SLOTS}
    if kind == "vertex":  # choices first, role on every chunk
        entry.update(delta={"role": "assistant", "content": SLOTS})
        return {"choices": [entry], **envelope, **top}
    if kind == "args":
        entry.update(delta={"tool_calls": [{"index": 0, "function": {"arguments": SLOTS}}]})
        return {**envelope, **top, "choices": [entry]}
    if kind == "qwen":  # null content beside the reasoning, envelope after
        entry.update(delta={"content": None, "reasoning_content": SLOTS}, finish_reason=None)
        return {"choices": [entry], **top, **envelope, "usage": None}
    if kind == "both":  # vLLM's reasoning twice, Azure's filter results, a refusal
        entry.update(
            delta={"reasoning": SLOTS, "reasoning_content": SLOTS, "refusal": SLOTS},
            content_filter_results={"hate": {"filtered": False}},
            obfuscation=SLOTS,
        )
        return {**envelope, **top, "choices": [entry]}
    # "restated": Vertex's call fragments with id, type and name on each
    entry.update(
        delta={
            "role": "assistant",
            "tool_calls": [
                {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": SLOTS}}
            ],
        }
    )
    return {"choices": [entry], **envelope, **top}


KINDS = ["openai", "vertex", "args", "qwen", "both", "restated"]


@st.composite
def repeating_streams(draw: st.DrawFn) -> bytes:
    """Chunks of a few shapes, interleaved, with hostile strings in the slots, and now and then the
    events a shape must not be used across: a finish and late data, [DONE], a changed field."""
    choices = draw(st.integers(1, 3))
    shapes_of = [
        (
            draw(st.sampled_from(KINDS)),
            index,
            draw(
                st.sampled_from([{}, {"provider": "p"}, {"x": None}, {"x": ""}, {"system_fingerprint": ""}])
            ),
        )
        for index in range(choices)
    ]
    events: list[str] = []
    for _ in range(draw(st.integers(1, 24))):
        roll = draw(st.integers(0, 49))
        kind, index, top = draw(st.sampled_from(shapes_of))
        if roll == 0:
            events.append("[DONE]")
            continue
        if roll == 1:  # a finish for one choice: what follows for it is late
            events.append(render({"choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]}, draw))
            continue
        if roll == 2:  # the same shape with another value in a last-wins field
            top = {**top, "provider": draw(st.sampled_from(["q", "r"]))}
        if roll == 3:
            top = {**top, "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
        text = render(_base(kind, index, top), draw)
        if roll == 4:  # a duplicate key before a slot's, holding the proof's marker text
            text = DUPLICATE.sub(lambda key: f'{key[0]}"\x7f0",{key[0]}', text, count=1)
        pieces = text.split(json.dumps(SLOTS))
        tokens = [
            draw(RAW) if draw(st.integers(0, 40)) == 0 else render(draw(TEXT), draw) for _ in pieces[1:]
        ]
        events.append(pieces[0] + "".join(t + p for t, p in zip(tokens, pieces[1:], strict=True)))
    if draw(st.integers(0, 3)):  # mostly a proper end: every choice finishes, then [DONE]
        events += [
            render({"choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]}, draw)
            for i in range(choices)
        ]
        events.append("[DONE]")
    # Now and then a chunk that arrives another way: as a typed event, or as a bare line.
    framed = [
        draw(
            st.sampled_from(["data: ", "data: ", "data: ", "data: ", "event: message\ndata: ", "data:  ", ""])
        )
        + event
        for event in events
    ]
    return "".join(f"{event}\n\n" for event in framed).encode("utf-8", "surrogatepass")


@PROPERTY
@given(body=repeating_streams(), data=st.data(), tag=st.sampled_from([None, "think"]))
def test_shapes_change_nothing_on_repeating_streams(
    body: bytes, data: st.DataObject, tag: str | None
) -> None:
    """Whatever the strings, the cuts and the interruptions: the same events, result or error."""
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=6))
    both(cut_at(body, cuts), thought_tag=tag)


@PROPERTY
@given(pair=strategies.completion_streams(max_choices=3), data=st.data())
def test_shapes_change_nothing_on_drawn_streams(
    pair: tuple[dict[str, Any], list[dict[str, Any]]], data: st.DataObject
) -> None:
    body = strategies.sse_bytes(pair[1])
    both(data.draw(strategies.byte_pieces(body, max_pieces=6)))


@PROPERTY
@given(stream=strategies.faulty_streams(), data=st.data())
def test_shapes_change_nothing_on_faulty_streams(
    stream: strategies.FaultyStream, data: st.DataObject
) -> None:
    both(data.draw(strategies.byte_pieces(stream.body, max_pieces=6)))


def test_the_fast_lane_is_taken() -> None:
    """The differential tests prove something only if shapes read payloads: on a repeating stream
    nearly every payload is read by one, and the result is the careful path's."""
    body = b"".join(
        b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"w%d \\"q\\" \\u00e9"}}],"obfuscation":"%s"}\n\n'
        % (i, b"x" * (i % 7))
        for i in range(100)
    )
    body += b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    got, used = both([body])
    assert used == 98  # all but the first two: one is sketched, the next repeats it and makes the shape
    assert got[2]["choices"][0]["message"]["content"] == "".join(f'w{i} "q" é' for i in range(100))
    # With the default wait, a short stream never pays for making one.
    head = body[: body.index(b"data", body.index(b"w65"))]  # 66 payloads
    with shapes("default") as counted:
        outcome([head])
    assert not counted  # 64 pass untried, the 65th is sketched, the 66th makes the shape
    with shapes("default") as counted:
        outcome([body])
    assert len(counted) == 100 - 66


@pytest.mark.parametrize(
    "payloads",
    [
        # A duplicate key: the parsed chunk has fewer strings than the text has tokens; no shape.
        ['{"choices":[{"index":0,"delta":{"content":"a","content":"b"}}]}'] * 3,
        # A key spelled like the text it holds.
        [
            '{"choices":[{"index":0,"delta":{"content":"content"}}]}',
            '{"choices":[{"index":0,"delta":{"content":"x"}}]}',
        ],
        # A lone surrogate in a slot: pydantic-core refuses it; the careful path replaces and counts it.
        [
            '{"choices":[{"index":0,"delta":{"content":"a"}}]}',
            '{"choices":[{"index":0,"delta":{"content":"\\ud800b"}}]}',
        ],
        # A raw control character: invalid JSON, reported at the same position.
        [
            '{"choices":[{"index":0,"delta":{"content":"a"}}]}',
            '{"choices":[{"index":0,"delta":{"content":"\x01"}}]}',
        ],
        # Another value for a last-wins field between two chunks of one shape.
        [
            '{"x":1,"choices":[{"index":0,"delta":{"content":"a"}}]}',
            '{"x":2,"choices":[{"index":0,"delta":{"content":"b"}}]}',
            '{"x":1,"choices":[{"index":0,"delta":{"content":"c"}}]}',
        ],
        # Late text after the finish, and a chunk after [DONE].
        [
            '{"choices":[{"index":0,"delta":{"content":"a"}}]}',
            '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
            '{"choices":[{"index":0,"delta":{"content":"b"}}]}',
        ],
        [
            '{"choices":[{"index":0,"delta":{"content":"a"}}]}',
            "[DONE]",
            '{"choices":[{"index":0,"delta":{"content":"b"}}]}',
        ],
        # Text past the line limit in a slot.
        [
            '{"choices":[{"index":0,"delta":{"content":"a"}}]}',
            '{"choices":[{"index":0,"delta":{"content":"' + "b" * 300 + '"}}]}',
        ],
    ],
)
def test_shapes_on_the_edges(payloads: list[str]) -> None:
    body = "".join(f"data: {p}\n\n" for p in payloads * 2).encode("utf-8", "surrogatepass")
    both([body], max_line_length=200)
    both([body[:n] for n in range(0, len(body), 7)] and cut_at(body, list(range(0, len(body), 7))))


def _recordings() -> list[Path]:
    found = sorted(FIXTURES.rglob("*.sse"))
    if shared_dir() is not None:
        found += sorted(real_recordings().rglob("*.sse"))
    return found


@pytest.mark.parametrize("path", _recordings(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_shapes_change_nothing_on_recordings(path: Path) -> None:
    """Every recording (ours and the 15 providers'), whole and in 61-byte pieces."""
    body = path.read_bytes()
    tag = "think" if b"<think>" in body else "thought" if b"<thought>" in body else None
    both([body], thought_tag=tag)
    both(cut_at(body, list(range(61, len(body), 61))), thought_tag=tag)


@pytest.mark.parametrize(
    "between",
    [
        b'event: message\ndata: {"choices":[{"delta":{"content":"b"}}],"x":"2"}\n\n',
        b'{"choices":[{"delta":{"content":"b"}}],"x":"2"}\n\n',  # a bare line
        b'data: {"choices":[{"delta":{"content":"\\ud800"}}],"x":"2"}\n\n',  # read by json, not pydantic-core
        b'data:  {"choices":[{"delta":{"content":"b"}}],"x":"2"}\n\n',  # a second space
    ],
)
def test_a_last_wins_field_after_a_chunk_read_another_way(between: bytes) -> None:
    """A shape with a last-wins top-level field is usable only right after itself: a chunk applied
    by any other path in between (a typed event, a bare line, json's reading) changes the field, and
    the next chunk of the shape must set it back. (A hostile review found the fast lane keeping
    "2": the shape read last was remembered across chunks that did not go through it.)"""
    a = b'data: {"choices":[{"delta":{"content":"a"}}],"x":"1"}\n\n'
    end = b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
    got, used = both([a * 3 + between + a + end])
    assert used == 1 and got[2]["x"] == "1"  # the third a; the fourth goes the careful way


def test_streams_that_do_not_repeat_drop_their_shapes() -> None:
    """A timestamp per chunk: no shape is ever used, so none is kept to be tried in vain, and the
    tries stay few (a few per doubling of the stream)."""
    made: list[int] = []
    make = _shapes._make

    def counted(*args: Any) -> Any:
        made.append(1)
        return make(*args)

    body = b"".join(
        b'data: {"choices":[{"index":0,"delta":{"content":"w"}}],"created":%d,"id":"c"}\n\n' % i
        for i in range(5000)
    )
    assembler = chunkwise.StreamAssembler(emit_events=False)
    _shapes._make = counted
    try:
        assembler.feed_bytes(body)
    finally:
        _shapes._make = make
    assert not made  # the sketches differ (`created`): no shape is even made
    assert not assembler._shapes.kept


@pytest.mark.parametrize(
    "template",
    [
        '{"id":"c","choices":[{"index":0,"delta":{"content":"%s","content":"\x7f0"}}]}',  # duplicate key
        '{"id":"c","choices":[{"index":0,"delta":{"content":"%s","content":"\\u007f0"}}]}',
        '{"id":"c","choices":[{"index":0,"delta":{"x":{"content":"%s"},"content":"\x7f0"}}]}',
        '{"id":"c","x":{"content":"%s"},"choices":[{"index":0,"delta":{"content":"\x7f0"}}]}',
        '{"id":"c","choices":[{"index":0,"delta":{"a\\"content":"%s","content":"\x7f0"}}]}',
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function",'
        '"function":{"name":"f","arguments":"%s","arguments":"\x7f0"}}]}}]}',
    ],
)
def test_a_slot_found_in_the_wrong_place_fails_the_proof(template: str) -> None:
    """The slot's key found first elsewhere (a nested object, a duplicate the later key overrides,
    a key ending in the same name), where the chunk's real slot holds the text of the proof's
    marker: the proof must still fail. (A hostile review read "HELLO" from the wrong place while
    the careful path read the marker text: the markers were fixed strings a chunk could hold.)"""
    pieces = [f"data: {template % text}\n\n".encode() for text in ("\x7f0", "\x7f0", "HELLO", "a", "b")]
    _, used = both(pieces)
    assert used == 0
