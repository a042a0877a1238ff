"""`partial_content` and `partial_arguments`: structured output read while it streams.

The JSON reader itself is tested in test_partial.py; here, what the assembler hands it: exactly the
text received, in order, however the chunks cut it, whatever else reads the text in between
(snapshots join it), and at a cost linear in the stream.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import from_json

import chunkwise
from chunkwise._partial import PartialJSON
from chunkwise._text import Pieces, Tally

from helpers import chunk, delta_choice

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


def whole_prefix(text: str) -> Any:
    """What a fresh reader says of the whole prefix at once: the incremental answer must equal it."""
    reader = PartialJSON()
    reader.feed(text)
    return reader.value()


@settings(max_examples=150)
@given(value=JSON_VALUES, data=st.data())
def test_partial_content_is_the_value_of_the_text_so_far(value: Any, data: st.DataObject) -> None:
    """Asked after any chunk, with snapshots in between (they join the text the reader follows)."""
    text = json.dumps({"answer": value})
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    assembler = chunkwise.StreamAssembler()
    assert assembler.partial_content() is None  # no choice yet
    for start, end in itertools.pairwise(bounds):
        assembler.feed(chunk(delta_choice(content=text[start:end])))
        if data.draw(st.booleans()):
            assert assembler.snapshot.choices[0].message.content == text[:end]
        if data.draw(st.booleans()):
            assert assembler.partial_content() == whole_prefix(text[:end])
    assembler.feed(chunk(delta_choice(finish="stop")))
    assert assembler.partial_content() == json.loads(text) == from_json(text)
    assembler.close()
    assert assembler.partial_content() == json.loads(text)


@settings(max_examples=100)
@given(values=st.lists(JSON_VALUES, min_size=1, max_size=3), data=st.data())
def test_partial_arguments_follow_each_call(values: list[Any], data: st.DataObject) -> None:
    """Parallel calls interleaved fragment by fragment: each call's reader sees only its own text."""
    texts = [json.dumps({"v": v}) for v in values]
    assembler = chunkwise.StreamAssembler()
    for position, _ in enumerate(texts):
        opening = {"index": position, "id": f"call_{position}", "type": "function", "function": {"name": "f"}}
        assembler.feed(chunk(delta_choice(tool_calls=[opening])))
        assert assembler.partial_arguments(call=position) is None  # no JSON yet
    sent = [0] * len(texts)
    while any(s < len(t) for s, t in zip(sent, texts, strict=True)):
        position = data.draw(st.sampled_from([i for i, t in enumerate(texts) if sent[i] < len(t)]))
        size = data.draw(st.integers(1, 9))
        piece = texts[position][sent[position] : sent[position] + size]
        sent[position] += len(piece)
        assembler.feed(
            chunk(delta_choice(tool_calls=[{"index": position, "function": {"arguments": piece}}]))
        )
        asked = data.draw(st.integers(0, len(texts) - 1))
        assert assembler.partial_arguments(call=asked) == whole_prefix(texts[asked][: sent[asked]])
    for position, text in enumerate(texts):
        assert assembler.partial_arguments(call=position) == json.loads(text)
    assert assembler.partial_arguments(call=len(texts)) is None
    assert assembler.partial_arguments(choice=1) is None


def test_partial_content_leaves_thinking_out() -> None:
    """With a thought tag, the reader sees the answer only: the thinking before it is not JSON's."""
    assembler = chunkwise.StreamAssembler(thought_tag="think")
    for piece in ["<thi", "nk>plan: {x}</th", 'ink>{"a": [1, "tw', 'o"]}']:
        assembler.feed(chunk(delta_choice(content=piece)))
    assert assembler.partial_content() == {"a": [1, "two"]}


def test_text_that_is_not_json_keeps_its_last_value() -> None:
    """A fence before the JSON, or garbage after it: the reader stops, never raises."""
    assembler = chunkwise.StreamAssembler()
    assembler.feed(chunk(delta_choice(content="```json\n{")))
    assert assembler.partial_content() is None
    assembler = chunkwise.StreamAssembler()
    assembler.feed(chunk(delta_choice(content='{"a": 1} trailing')))
    assert assembler.partial_content() == {"a": 1}


@settings(max_examples=200)
@given(pieces=st.lists(st.text(max_size=6), max_size=40), data=st.data())
def test_pieces_since_returns_each_character_once(pieces: list[str], data: st.DataObject) -> None:
    """`Pieces.since`, the cursor under the readers, across compactions (drawn here: a block holds
    512 pieces) and joins (`value`)."""
    held, tally, cursor, read = Pieces(), Tally(), None, []
    added = []
    for piece in pieces:
        added.append(held.add(piece, tally))
        action = data.draw(st.sampled_from(["none", "none", "since", "value", "compact"]))
        if action == "since":
            part, cursor = held.since(cursor)
            read.append(part)
        elif action == "value":
            assert held.value() == "".join(added)
        elif action == "compact":
            held.compact()
    part, cursor = held.since(cursor)
    read.append(part)
    assert "".join(read) == "".join(added) == held.value()


def _asking_after_every_chunk(chunks: list[dict[str, Any]], expected: Any) -> float:
    """Best of three, in CPU time: feed each chunk and ask for the partial value after it; the
    last answer must be ``expected``."""
    best = float("inf")
    for _ in range(3):
        assembler = chunkwise.StreamAssembler(emit_events=False)
        start = time.process_time()
        for item in chunks:
            assembler.feed(item)
            assembler.partial_content()
        best = min(best, time.process_time() - start)
        assert assembler.partial_content() == expected
    return best


def test_asking_after_every_chunk_stays_linear() -> None:
    """10x the chunks, each followed by a question: about 10x the time (re-parsing would be ~100x)."""

    def run(n: int) -> float:
        records = [{"title": f"event {i}", "day": i % 7, "people": ["a", "b"]} for i in range(n // 20)]
        text = json.dumps({"events": records})
        size = max(1, len(text) // n)
        chunks = [chunk(delta_choice(content=text[i : i + size])) for i in range(0, len(text), size)]
        return _asking_after_every_chunk(chunks, {"events": records})

    ratio = run(20_000) / run(2_000)
    assert ratio < 30, f"20k/2k = {ratio:.1f}"


@settings(max_examples=100)
@given(value=JSON_VALUES, data=st.data())
def test_partial_content_across_typed_parts(value: Any, data: st.DataObject) -> None:
    """Mistral's typed parts: text runs closed by a part that is not text, text parts with fields of
    their own; the reader sees the answer's text, in order, each character once."""
    text = json.dumps({"answer": value})
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    bounds = [0, *cuts, len(text)]
    assembler = chunkwise.StreamAssembler()
    for start, end in itertools.pairwise(bounds):
        piece = text[start:end]
        shape = data.draw(
            st.sampled_from(["string", "text part", "text part with a field", "image then text"])
        )
        if shape == "string":
            content: Any = piece
        elif shape == "text part":
            content = [{"type": "text", "text": piece}]
        elif shape == "text part with a field":
            content = [{"type": "text", "text": piece, "cache": {"n": start}}]
        else:
            content = [{"type": "image_url", "image_url": {"url": "u"}}, {"type": "text", "text": piece}]
        assembler.feed(chunk(delta_choice(content=content)))
        if data.draw(st.booleans()):
            assert assembler.partial_content() == whole_prefix(text[:end])
    assert assembler.partial_content() == json.loads(text)


def test_partial_content_across_typed_parts_stays_linear() -> None:
    """Each text part closes a run: asking after every one still reads only what is new."""

    def run(n: int) -> float:
        text = json.dumps({"items": [f"item {i}" for i in range(n // 3)]})
        size = max(1, len(text) // n)
        parts = [text[i : i + size] for i in range(0, len(text), size)]
        chunks = [chunk(delta_choice(content=[{"type": "text", "text": p, "i": 1}])) for p in parts]
        return _asking_after_every_chunk(chunks, json.loads(text))

    ratio = run(20_000) / run(2_000)
    assert ratio < 30, f"20k/2k = {ratio:.1f}"


def test_a_custom_call_has_no_partial_arguments_and_int_like_positions_work() -> None:
    """A custom tool's input is free-form text, never read as JSON; numpy-style integers index."""
    import enum

    class Position(enum.IntEnum):
        FIRST = 0

    custom = {"index": 0, "id": "c", "type": "custom", "custom": {"name": "sql", "input": "42 rows; SELECT"}}
    function = {"index": 1, "id": "f", "type": "function", "function": {"name": "f", "arguments": '{"a": [1'}}
    assembler = chunkwise.StreamAssembler()
    assembler.feed(chunk(delta_choice(tool_calls=[custom, function])))
    assert assembler.partial_arguments(call=0) is None
    assert assembler.partial_arguments(call=1) == {"a": [1]}
    assert assembler.partial_arguments(choice=Position.FIRST, call=Position.FIRST) is None
    assert assembler.partial_arguments(call=True) is None  # a bool is not a position
    assembler.feed(chunk(delta_choice(content='{"x": 1}')))
    assert assembler.partial_content(Position.FIRST) == {"x": 1}
