"""Properties: the round-trip oracle in every server style, the events checked against the same
oracle, split invariance of the events, and totality for any input."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import chunkwise
from chunkwise import (
    ChoiceFinished,
    ContentDelta,
    ContentDone,
    ReasoningDelta,
    ReasoningDone,
    RefusalDelta,
    RefusalDone,
    ServerErrorReceived,
    StreamEnded,
    ToolCallArgumentsDelta,
    ToolCallDone,
    ToolCallStarted,
    UsageReported,
)
from chunkwise import strategies as cs

ROUND_TRIP = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENTS = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# None: no tag (the Gemini API's flagged thoughts still split); "think": Vertex thought_tag_marker
# and DeepSeek-R1; "thought": the Gemini API's own tag.
THOUGHT_TAGS = (None, "think", "thought")
LINE_ENDINGS = ("\n", "\r\n", "\r")

Pair = tuple[dict[str, Any], list[dict[str, Any]]]


def _draw_stream(data: st.DataObject, style: str | None) -> tuple[str | None, dict[str, Any], bytes]:
    """A thought tag, a completion, and its stream in ``style`` as an SSE body with drawn line endings."""
    tag = data.draw(st.sampled_from(THOUGHT_TAGS), label="thought_tag")
    completion, chunks = data.draw(cs.completion_streams(style=style, thought_tag=tag))
    body = cs.sse_bytes(chunks, line_ending=data.draw(st.sampled_from(LINE_ENDINGS), label="line_ending"))
    return tag, completion, body


def _events(pieces: list[Any], thought_tag: str | None) -> tuple[list[chunkwise.Event], dict[str, Any]]:
    """Every event of feeding ``pieces`` (bytes to ``feed_bytes``, anything else to ``feed``) and
    closing; and the completion, dumped."""
    assembler = chunkwise.StreamAssembler(thought_tag=thought_tag, emit_events=True)
    events: list[chunkwise.Event] = []
    for piece in pieces:
        events += assembler.feed_bytes(piece) if isinstance(piece, bytes) else assembler.feed(piece)
    events += assembler.close()
    return events, assembler.completion.model_dump(exclude_none=True)


def _normalise(events: list[Any]) -> list[Any]:
    """Consecutive text deltas of the same kind, choice and call merged into one (h11's tests
    normalise data events the same way): where the input was cut must not matter beyond that."""
    out: list[Any] = []
    for event in events:
        last = out[-1] if out else None
        if (
            last is not None
            and type(last) is type(event)
            and isinstance(getattr(event, "delta", None), str)
            and dataclasses.replace(last, delta="") == dataclasses.replace(event, delta="")
        ):
            out[-1] = dataclasses.replace(last, delta=last.delta + event.delta)
        else:
            out.append(event)
    return out


# Events that add to a choice, and events that close (part of) it: none of the first after the second.
_GROWING = (ContentDelta, ReasoningDelta, RefusalDelta, ToolCallStarted, ToolCallArgumentsDelta)
_CLOSING = (ContentDone, ReasoningDone, RefusalDone, ToolCallDone, ChoiceFinished)
_TEXTS = (
    (ContentDelta, ContentDone, "content", "content"),
    (ReasoningDelta, ReasoningDone, "reasoning_content", "reasoning"),
    (RefusalDelta, RefusalDone, "refusal", "refusal"),
)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _assert_events_tell_the_completion(events: list[chunkwise.Event], completion: dict[str, Any]) -> None:
    """Summed deltas == done events == the completion, for each choice, text field and call.

    The legacy ``function_call`` has events of its own, not checked here: only its result is."""
    assert events[-1] == StreamEnded(complete=True, done_received=True)
    assert sum(isinstance(e, StreamEnded) for e in events) == 1
    assert not any(isinstance(e, ServerErrorReceived) for e in events)
    usages = [e.usage for e in events if isinstance(e, UsageReported)]
    assert usages[-1:] == ([completion["usage"]] if "usage" in completion else [])
    seen = {c["index"] for c in completion["choices"]}
    assert {e.choice for e in events if isinstance(e, (*_GROWING, *_CLOSING))} <= seen

    for choice in completion["choices"]:
        index, message = choice["index"], choice["message"]
        mine = [e for e in events if isinstance(e, (*_GROWING, *_CLOSING)) and e.choice == index]
        closed_at = min((i for i, e in enumerate(mine) if isinstance(e, _CLOSING)), default=len(mine))
        assert all(i < closed_at for i, e in enumerate(mine) if isinstance(e, _GROWING)), mine
        assert [e.finish_reason for e in mine if isinstance(e, ChoiceFinished)] == [choice["finish_reason"]]

        for delta_type, done_type, field, attribute in _TEXTS:
            expected = message.get(field)
            deltas = "".join(e.delta for e in mine if isinstance(e, delta_type))
            dones = [getattr(e, attribute) for e in mine if isinstance(e, done_type)]
            assert deltas == (expected or ""), field
            assert dones == ([] if expected is None else [expected]), field
        assert not any(e.unterminated for e in mine if isinstance(e, ReasoningDone))

        calls = message.get("tool_calls", [])
        started = {e.call: (i, e) for i, e in enumerate(mine) if isinstance(e, ToolCallStarted)}
        done = {e.call: e for e in mine if isinstance(e, ToolCallDone)}
        assert sum(isinstance(e, ToolCallStarted) for e in mine) == len(started) == len(calls)
        assert sum(isinstance(e, ToolCallDone) for e in mine) == len(done) == len(calls)
        assert {e.call for e in mine if isinstance(e, ToolCallArgumentsDelta)} <= set(range(len(calls)))
        for position, call in enumerate(calls):
            kind = call["type"]
            name, text = call[kind]["name"], call[kind]["input" if kind == "custom" else "arguments"]
            opened_at, opened = started[position]
            assert (opened.id, opened.name) == (call["id"], name)
            pieces = [
                (i, e.delta)
                for i, e in enumerate(mine)
                if isinstance(e, ToolCallArgumentsDelta) and e.call == position
            ]
            assert all(i > opened_at for i, _ in pieces), (
                f"call {position}: a delta before its ToolCallStarted"
            )
            assert "".join(piece for _, piece in pieces) == text, f"call {position}"
            finished = done[position]
            assert (finished.id, finished.name, finished.arguments) == (call["id"], name, text)
            signature = call.get("extra_content", {}).get("google", {}).get("thought_signature")
            assert finished.has_thought_signature == bool(signature)
            if kind == "custom":
                # Free-form input is never judged as JSON.
                assert (finished.parsed, finished.error) == (None, None)
            elif _is_json(text):
                assert (finished.parsed, finished.error) == (json.loads(text), None)
            else:
                # Kept verbatim and reported, never repaired (a `length` cut, Vertex's raw newlines).
                assert finished.parsed is None and finished.error


@pytest.mark.parametrize("style", cs.STYLES)
@ROUND_TRIP
@given(data=st.data())
def test_round_trip_any_style_any_byte_split(style: str, data: st.DataObject) -> None:
    """Generated completion -> stream in `style` -> SSE bytes cut anywhere -> assembled == the completion."""
    tag, completion, body = _draw_stream(data, style)
    assembled = chunkwise.assemble(data.draw(cs.byte_pieces(body)), thought_tag=tag)
    assert assembled.model_dump(exclude_none=True) == completion
    assert assembled.done_received


@ROUND_TRIP
@given(tag=st.sampled_from(THOUGHT_TAGS), data=st.data())
def test_round_trip_from_parsed_chunks(tag: str | None, data: st.DataObject) -> None:
    """The same oracle, fed as parsed mappings and as JSON text."""
    completion, chunks = data.draw(cs.completion_streams(thought_tag=tag))
    assert chunkwise.assemble(chunks, thought_tag=tag).model_dump(exclude_none=True) == completion
    texts = [json.dumps(c) for c in chunks]
    assert chunkwise.assemble(texts, thought_tag=tag).model_dump(exclude_none=True) == completion


@ROUND_TRIP
@given(pair=cs.completion_streams())
def test_round_trip_message_is_resendable(pair: Pair) -> None:
    """The message sent back keeps each call as received (signature, custom calls), the legacy `function_call` and its signature."""
    completion, chunks = pair
    assembled = chunkwise.assemble(chunks)
    for choice, original in zip(assembled.choices, completion["choices"], strict=True):
        request = choice.message.to_request_message()
        sent = original["message"]
        assert request.get("tool_calls") == sent.get("tool_calls")
        assert request.get("function_call") == sent.get("function_call")
        assert request.get("extra_content") == sent.get("extra_content")


@pytest.mark.parametrize("style", cs.STYLES)
@EVENTS
@given(data=st.data())
def test_events_tell_the_same_completion(style: str, data: st.DataObject) -> None:
    """Over bytes cut anywhere: each text's and call's deltas sum to its done event and the completion; nothing grows once done."""
    tag, completion, body = _draw_stream(data, style)
    events, assembled = _events(data.draw(cs.byte_pieces(body)), tag)
    assert assembled == completion
    _assert_events_tell_the_completion(events, completion)


@pytest.mark.parametrize("style", cs.STYLES)
@EVENTS
@given(data=st.data())
def test_events_do_not_depend_on_the_cuts(style: str, data: st.DataObject) -> None:
    """The body whole, cut at drawn points, or as parsed chunks gives the same events, consecutive deltas merged."""
    tag = data.draw(st.sampled_from(THOUGHT_TAGS), label="thought_tag")
    _, chunks = data.draw(cs.completion_streams(style=style, thought_tag=tag))
    body = cs.sse_bytes(chunks, line_ending=data.draw(st.sampled_from(LINE_ENDINGS), label="line_ending"))
    whole, _ = _events([body], tag)
    cut, _ = _events(data.draw(cs.byte_pieces(body)), tag)
    parsed, _ = _events([*chunks, "[DONE]"], tag)
    assert _normalise(cut) == _normalise(whole)
    assert _normalise(parsed) == _normalise(whole)


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
                    "annotations",
                    "custom",
                    "input",
                    "function_call",
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


@pytest.mark.parametrize("tag", ["", "<think>", "a>b", 3])
def test_strategies_check_the_thought_tag(tag: Any) -> None:
    """A thought tag must be None or a tag name: every strategy that takes one says so at once."""
    with pytest.raises(InvalidArgument):
        cs.completions(thought_tag=tag)
    with pytest.raises(InvalidArgument):
        cs.chunks_from({}, thought_tag=tag)
    with pytest.raises(InvalidArgument):
        cs.completion_streams(thought_tag=tag)


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
    with pytest.raises(InvalidArgument):
        cs.completion_streams(style="anthropic")
    # Content holding the tag cannot be streamed with thinking inside that tag.
    tagged = {"choices": [{"index": 0, "message": {"content": "a <think> b"}}]}
    with pytest.raises(InvalidArgument):
        cs.chunks_from(tagged, thought_tag="think")
