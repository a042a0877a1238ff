"""Properties: the round-trip oracle in every server style, and totality for any input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import chunkwise
from chunkwise import strategies as cs

ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("style", cs.STYLES)
@ROUND_TRIP
@given(data=st.data())
def test_round_trip_any_style_any_byte_split(style: str, data: st.DataObject) -> None:
    """Generated completion -> stream in `style` -> SSE bytes cut anywhere -> assembled == the completion."""
    completion, chunks = data.draw(cs.completion_streams(style=style))
    pieces = data.draw(
        cs.byte_pieces(cs.sse_bytes(chunks, line_ending=data.draw(st.sampled_from(["\n", "\r\n"]))))
    )
    assembled = chunkwise.assemble(pieces)
    assert assembled.model_dump(exclude_none=True) == completion
    assert assembled.done_received


@ROUND_TRIP
@given(pair=cs.completion_streams())
def test_round_trip_from_parsed_chunks(pair: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """The same oracle, fed as parsed mappings and as JSON text."""
    completion, chunks = pair
    assert chunkwise.assemble(chunks).model_dump(exclude_none=True) == completion
    assert chunkwise.assemble([json.dumps(c) for c in chunks]).model_dump(exclude_none=True) == completion


@ROUND_TRIP
@given(pair=cs.completion_streams(style="vertex"))
def test_round_trip_message_is_resendable(pair: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Each call keeps its own signature in the message sent back, the message keeps its own."""
    completion, chunks = pair
    assembled = chunkwise.assemble(chunks)
    for choice, original in zip(assembled.choices, completion["choices"], strict=True):
        request = choice.message.to_request_message()
        sent = original["message"]
        assert [c.get("extra_content") for c in request.get("tool_calls", [])] == [
            c.get("extra_content") for c in sent.get("tool_calls", [])
        ]
        assert request.get("extra_content") == sent.get("extra_content")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "choices",
                    "index",
                    "delta",
                    "content",
                    "tool_calls",
                    "id",
                    "function",
                    "arguments",
                    "name",
                    "usage",
                    "finish_reason",
                    "error",
                    "extra_content",
                    "google",
                    "thought",
                    "audio",
                    "data",
                    "logprobs",
                    "role",
                    "reasoning",
                    "reasoning_content",
                    "reasoning_details",
                    "refusal",
                    "type",
                    "created",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def _drive(feeds: list[Any], *, as_bytes: bool) -> None:
    assembler = chunkwise.StreamAssembler(thought_tag="think")
    try:
        for item in feeds:
            if as_bytes:
                assembler.feed_bytes(item)
            else:
                assembler.feed(item)
        assembler.close()
        assert assembler.completion is not None
        return
    except chunkwise.ChunkwiseError as error:
        failure = error
    # Whatever failed, the partial result is there and serialises.
    assert failure.partial is not None
    json.dumps(failure.partial.model_dump(mode="json"))


@settings(max_examples=400, deadline=None)
@given(st.lists(_JSON, max_size=6))
def test_totality_arbitrary_json_values(values: list[Any]) -> None:
    """Arbitrary JSON values (and their text) give events or a ChunkwiseError, nothing else."""
    _drive(values, as_bytes=False)
    _drive([json.dumps(v) for v in values], as_bytes=False)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.binary(max_size=60) | _JSON.map(lambda v: f"data: {json.dumps(v)}\n\n".encode()), max_size=8)
)
def test_totality_arbitrary_bytes(pieces: list[bytes]) -> None:
    """Arbitrary bytes, mixed with plausible SSE frames, give events or a ChunkwiseError."""
    _drive(pieces, as_bytes=True)


def test_strategies_check_their_arguments() -> None:
    """Strategy options are checked with hypothesis's InvalidArgument, like hypothesis's own."""
    with pytest.raises(InvalidArgument):
        cs.completions(max_choices=0)
    with pytest.raises(InvalidArgument):
        cs.chunks_from({}, style="anthropic")
    with pytest.raises(InvalidArgument):
        cs.sse_bytes([], line_ending="\t")
    with pytest.raises(InvalidArgument):
        cs.byte_pieces(b"abc", max_pieces=0)
