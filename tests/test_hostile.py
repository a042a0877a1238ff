"""Hostile input: nothing but our errors escapes, nothing received is lost, memory stays bounded.

One regression test per class of failure the fuzzers found, then a property that draws from every
class at once (numbers of any length, nesting of any depth, surrogates anywhere, tiny pieces).
"""

from __future__ import annotations

import json
import tracemalloc
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chunkwise
from chunkwise import ChunkwiseError, MalformedChunkError, ServerError, StreamAssembler

from helpers import chunk, cut_at, delta_choice, run, sse


def outcome(pieces: list[bytes], **options: Any) -> tuple[str, Any]:
    """What a stream comes to: ("ok", dump) or (error class name, partial dump); every dump must work."""
    assembler = StreamAssembler(**options)
    try:
        for piece in pieces:
            assembler.feed_bytes(piece)
        assembler.close()
        completion = assembler.completion
        completion.model_dump_json()
        return "ok", completion.model_dump(mode="json")
    except ChunkwiseError as caught:
        error = caught
    partial = error.partial
    assert partial is not None
    partial.model_dump_json()
    assembler.snapshot.model_dump_json()
    return type(error).__name__, partial.model_dump(mode="json")


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


# ---------------------------------------------------------------- 1. numbers past Python's digit limit


def test_huge_integer_in_tool_arguments_is_valid_json() -> None:
    """Valid-JSON arguments holding a 5000-digit integer are valid: read exactly (as a Decimal), not an error."""
    digits = "7" * 5000
    completion, events = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[
                        {"index": 0, "id": "c", "function": {"name": "f", "arguments": f'{{"n": {digits}}}'}}
                    ],
                    finish="tool_calls",
                )
            )
        ]
    )
    call = (completion.message.tool_calls or [])[0]
    assert call.arguments_error is None
    (done,) = [e for e in events if isinstance(e, chunkwise.ToolCallDone)]
    assert done.error is None and done.parsed == {"n": Decimal(digits)}
    assert (
        chunkwise.assemble(
            sse(
                chunk(
                    delta_choice(
                        tool_calls=[
                            {"index": 0, "id": "c", "function": {"name": "f", "arguments": f"[{digits}]"}}
                        ],
                        finish="tool_calls",
                    )
                )
            )
        )
        .message.tool_calls[0]
        .arguments_error
        is None
    )  # type: ignore[index]


@pytest.mark.parametrize("where", ["chunk JSON", "feed(dict)"])
def test_huge_integer_in_a_chunk_is_a_malformed_chunk(where: str) -> None:
    """A 5000-digit integer in a chunk is refused where it enters, with what came before kept."""
    assembler = StreamAssembler()
    assembler.feed(chunk(delta_choice(content="kept")))
    bad: Any = (
        b'data: {"choices": [], "x": ' + b"9" * 5000 + b"}\n\n"
        if where == "chunk JSON"
        else chunk(x=10**5000)
    )
    feed = assembler.feed_bytes if where == "chunk JSON" else assembler.feed
    with pytest.raises(MalformedChunkError) as caught:
        feed(bad)
    assert "4300 digits" in caught.value.message
    assert caught.value.partial is not None and caught.value.partial.message.content == "kept"
    caught.value.partial.model_dump_json()


def test_long_retry_field_is_ignored() -> None:
    """A `retry:` field of 5000 digits is ignored (an invalid retry, per the SSE standard), never a ValueError."""
    body = b"retry: " + b"1" * 5000 + b"\n" + sse(chunk(delta_choice(content="a", finish="stop")))
    assert outcome([body])[0] == "ok"


# ---------------------------------------------------------------- 2. nesting


@pytest.mark.parametrize("depth", [65, 300, 900, 5000])
def test_nesting_past_the_limit_fails_where_it_enters(depth: int) -> None:
    """JSON nested past max_depth (json.loads accepts ~1000) fails as malformed on entry, from bytes and dicts."""
    deep = nested(depth)
    good = chunk(delta_choice(content="kept"))
    text = (
        json.dumps(chunk(delta_choice(content="x"), extra=deep))
        if depth < 900
        else '{"extra": ' + "[" * depth + "]" * depth + "}"
    )
    kind, partial = outcome([sse(good, done=False), f"data: {text}\n\n".encode()])
    assert kind == "MalformedChunkError" and partial["choices"][0]["message"]["content"] == "kept"
    if depth < 900:
        assembler = StreamAssembler()
        with pytest.raises(MalformedChunkError):
            assembler.feed(chunk(delta_choice(extra_content=deep)))


def test_nesting_within_the_limit_dumps_everywhere() -> None:
    """Whatever was accepted dumps: model_dump(mode=json), model_dump_json, snapshot, to_request_message."""
    deep = nested(63)
    assembler = StreamAssembler()
    assembler.feed(chunk(delta_choice(content="a", extra_content=deep, x=deep), y=deep))
    assembler.feed(
        chunk(
            delta_choice(
                tool_calls=[
                    {
                        "index": 0,
                        "id": "c",
                        "function": {"name": "f", "arguments": "{}"},
                        "extra_content": deep,
                    }
                ],
                finish="stop",
            )
        )
    )
    assembler.snapshot.model_dump_json()
    assembler.close()
    completion = assembler.completion
    completion.model_dump_json()
    json.dumps(completion.model_dump(mode="json"))
    json.dumps(completion.to_request_message())


def test_server_error_after_deep_data_is_a_server_error() -> None:
    """A server error after a deeply nested (accepted) chunk surfaces as ServerError, its partial dumpable."""
    assembler = StreamAssembler()
    assembler.feed(chunk(delta_choice(content="a"), extra=nested(60)))
    with pytest.raises(ServerError) as caught:
        assembler.feed({"error": {"message": "boom", "code": 500, "detail": nested(200)}})
    assert caught.value.partial is not None
    caught.value.partial.model_dump_json()
    json.dumps(caught.value.body)


def test_max_depth_is_configurable() -> None:
    """max_depth bounds the nesting of kept values; a bad option is a ValueError."""
    with pytest.raises(MalformedChunkError):
        run([chunk(delta_choice(content="a", finish="stop"), extra=nested(5))], max_depth=4)
    run([chunk(delta_choice(content="a", finish="stop"), extra=nested(4))], max_depth=4)
    with pytest.raises(ValueError, match="max_depth"):
        StreamAssembler(max_depth=0)


# ---------------------------------------------------------------- 3. Unicode


def test_lone_surrogates_in_values_and_keys_are_replaced() -> None:
    """Lone surrogates (json.loads accepts them) in strings and keys become U+FFFD and are counted."""
    body = b'data: {"id": "a\\ud800", "choices": [{"index": 0, "delta": {"content": "x", "k\\udfff": "v\\ud800"}, "finish_reason": "stop"}], "e": {"\\ud800": ["\\udc00"]}}\n\n'
    kind, dump = outcome([body])
    assert kind == "ok"
    assert dump["id"] == "a\ufffd" and dump["e"] == {"\ufffd": ["\ufffd"]}
    assert dump["choices"][0]["message"]["k\ufffd"] == "v\ufffd"
    assert chunkwise.assemble(body).replaced_characters == 5


def test_assemble_text_with_a_lone_surrogate_is_malformed() -> None:
    """assemble(str) whose text holds a raw lone surrogate fails as MalformedChunkError, not UnicodeEncodeError."""
    with pytest.raises(MalformedChunkError):
        chunkwise.assemble('data: {"choices": [{"index": 0, "delta": {"content": "\ud800"}}]}\n\n')


# ---------------------------------------------------------------- 4. memory and limits


def test_limits_on_choices_tool_calls_and_lines() -> None:
    """Beyond max_choices, max_tool_calls (per choice) or max_line_length the stream fails as malformed."""
    with pytest.raises(MalformedChunkError, match="max_choices"):
        run([chunk(delta_choice(index=i, content="x")) for i in range(4)], max_choices=3)
    calls = [{"index": i, "id": f"c{i}", "function": {"name": "f", "arguments": "{}"}} for i in range(4)]
    with pytest.raises(MalformedChunkError, match="max_tool_calls"):
        run([chunk(delta_choice(tool_calls=calls))], max_tool_calls=3)
    kind, _ = outcome([sse(chunk(delta_choice(content="x" * 200, finish="stop")))], max_line_length=100)
    assert kind == "MalformedChunkError"
    assert (
        outcome([sse(chunk(delta_choice(content="x" * 200, finish="stop")))], max_line_length=1000)[0] == "ok"
    )


def test_many_tiny_choices_stay_within_the_limit_in_memory() -> None:
    """A flood of new choice indexes stops at max_choices, so memory stays bounded whatever follows."""
    body = b"".join(b'data: {"choices":[{"index":%d}]}\n\n' % i for i in range(50_000))
    tracemalloc.start()
    try:
        kind, _ = outcome([body])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kind == "MalformedChunkError"
    assert peak < 4 * len(body) + 2_000_000, peak


def test_a_long_line_trickled_in_tiny_pieces_stays_near_its_size() -> None:
    """A 2 MB line fed 2 bytes at a time is held in blocks, not one object per piece."""
    line = (
        b'data: {"choices":[{"index":0,"delta":{"content":"'
        + b"a" * 2_000_000
        + b'"},"finish_reason":"stop"}]}\n\n'
    )
    assembler = StreamAssembler(emit_events=False)
    tracemalloc.start()
    try:
        for start in range(0, len(line), 2):
            assembler.feed_bytes(line[start : start + 2])
        assembler.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert assembler.completion.message.content == "a" * 2_000_000
    assert peak < 5 * len(line), peak


# ---------------------------------------------------------------- 5. the partial does not depend on the cuts


def test_invalid_utf8_keeps_everything_complete_before_it() -> None:
    """An invalid byte after complete chunks of the same piece: those chunks are in the partial,
    however the bytes were cut."""
    body = (
        sse(chunk(delta_choice(content="one ")), chunk(delta_choice(content="two")), done=False)
        + b"data: \xff\n\n"
    )
    whole = outcome([body])
    assert whole[0] == "MalformedChunkError" and whole[1]["choices"][0]["message"]["content"] == "one two"
    for cut in range(1, len(body)):
        assert outcome(cut_at(body, [cut])) == whole, cut


# ---------------------------------------------------------------- 6. errors always carry the partial


def test_completion_before_close_carries_the_partial() -> None:
    """Reading .completion before close() raises AssemblerStateError with the partial so far."""
    assembler = StreamAssembler()
    assembler.feed(chunk(delta_choice(content="so far")))
    with pytest.raises(chunkwise.AssemblerStateError) as caught:
        _ = assembler.completion
    assert caught.value.partial is not None and caught.value.partial.message.content == "so far"


def _cycle() -> dict[str, Any]:
    body: dict[str, Any] = {"message": "loop"}
    body["self"] = body
    return body


@pytest.mark.parametrize(
    "body",
    [
        _cycle(),
        {("t",): 1, "message": "tuple key"},
        {"message": "big", "n": 10**5000},
        {"message": "set", "s": {1}},
    ],
)
def test_unrenderable_error_body_is_still_a_server_error(body: dict[str, Any]) -> None:
    """feed(dict) with an error body that cannot be rendered as JSON raises ServerError (its text kept)."""
    assembler = StreamAssembler()
    with pytest.raises(ServerError) as caught:
        assembler.feed({"error": body})
    assert isinstance(caught.value.body, str) and caught.value.partial is not None
    caught.value.partial.model_dump_json()


@pytest.mark.parametrize(
    "bad",
    [
        chunk(delta_choice(content="a"), **{"k": {1: "int key"}}),
        chunk(delta_choice(audio={"id": 5})),
        chunk(delta_choice(audio={"expires_at": "soon"})),
        chunk(delta_choice(audio={"data": 1})),
        chunk(delta_choice(content="a"), created="yesterday"),
        chunk(delta_choice(content="a"), x={"s": {1, 2}}),
        chunk(delta_choice(content="a"), x=float("nan")),
    ],
)
def test_values_the_result_cannot_hold_are_refused_on_entry(bad: dict[str, Any]) -> None:
    """A non-string key, a wrongly typed audio field, a set or NaN fail as malformed when fed, not at dump time."""
    with pytest.raises(MalformedChunkError) as caught:
        run([bad])
    assert caught.value.partial is not None
    caught.value.partial.model_dump_json()


# ---------------------------------------------------------------- 7. two input paths agree


def test_event_error_without_data_is_a_server_error_from_both_paths() -> None:
    """An `event: error` frame with no data fails the stream, whether it comes as bytes or as an event object."""

    class Event:
        event = "error"
        data = ""

    with pytest.raises(ServerError):
        StreamAssembler().feed(Event())
    assert (
        outcome([sse(chunk(delta_choice(content="a")), done=False) + b"event: error\n\n"])[0] == "ServerError"
    )


# ---------------------------------------------------------------- the property over every class

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(4250, 4400).map(lambda n: _Raw("9" * n))
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None, categories=None), max_size=6)  # surrogates included
)


class _Raw(str):
    """A number written into the JSON text as is (json.dumps cannot write one over 4300 digits)."""


def _json_text(value: Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    return json.dumps(value)


_KEYS = st.sampled_from(
    [
        "content",
        "reasoning",
        "tool_calls",
        "function",
        "arguments",
        "id",
        "index",
        "x",
        "extra_content",
        "annotations",
        "\ud800",
    ]
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    """SSE bodies of plausible chunks salted with every hostile class."""
    events = []
    for _ in range(draw(st.integers(1, 5))):
        delta = draw(st.dictionaries(_KEYS, _VALUES, max_size=3))
        entry: dict[str, Any] = {"index": draw(st.integers(0, 2)), "delta": delta}
        if draw(st.booleans()):
            entry["finish_reason"] = "stop"
        payload: Any = {"choices": [entry], "extra": draw(_VALUES)}
        if draw(st.integers(0, 9)) == 0:
            depth = draw(st.integers(60, 1500))
            payload["deep"] = _Raw("[" * depth + "]" * depth)
        events.append("data: " + _json_text(payload).replace("\n", "\\n"))
    body = "\n\n".join(events) + "\n\n"
    raw = body.encode("utf-8")  # json.dumps escapes surrogates (\\ud800): they arrive as JSON escapes
    if draw(st.booleans()):
        raw += draw(st.binary(max_size=8))
    return raw


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(body=hostile_bodies(), data=st.data())
def test_any_hostile_body_gives_events_or_our_error_the_same_however_cut(
    body: bytes, data: st.DataObject
) -> None:
    """Events or a ChunkwiseError whose partial dumps as JSON, and the same outcome whole, byte by byte
    and at random cuts."""
    whole = outcome([body])
    cuts = data.draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=12))
    assert outcome(cut_at(body, cuts)) == whole
    if len(body) < 400:
        assert outcome([body[i : i + 1] for i in range(len(body))]) == whole


# ---------------------------------------------------------------- found by the hostile review


def _c(delta: dict[str, Any], finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **fields}


def test_a_late_chunk_merges_nothing_not_even_its_metadata() -> None:
    """A chunk bringing content for a finished choice is refused whole: its signature, annotations and
    envelope fields do not reach the finished answer (sent back, a foreign signature would be wrong)."""
    assembler = StreamAssembler()
    assembler.feed(_c({"content": "Hi", "extra_content": {"google": {"thought_signature": "FIRST"}}}, "stop"))
    late = _c(
        {
            "annotations": [{"u": 2}],
            "extra_content": {"google": {"thought_signature": "SECOND"}},
            "content": "2nd",
        },
        x_groq={"id": "second"},
    )
    with pytest.raises(MalformedChunkError) as caught:
        assembler.feed(late)
    partial = caught.value.partial
    assert partial is not None and partial.message.thought_signature == "FIRST"
    assert partial.message.annotations is None and "x_groq" not in (partial.model_extra or {})


def test_a_restated_finish_with_late_text_merges_no_call() -> None:
    """An entry restating the finish that also brings text is refused before its call is merged: no
    ToolCallStarted without its ToolCallDone."""
    call = {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}
    assembler = StreamAssembler()
    assembler.feed(_c({"tool_calls": [call]}, "tool_calls"))
    second = {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}
    with pytest.raises(MalformedChunkError) as caught:
        assembler.feed(_c({"tool_calls": [second], "content": "x"}, "tool_calls"))
    assert caught.value.events == []
    assert caught.value.partial is not None and len(caught.value.partial.message.tool_calls or []) == 1


@pytest.mark.parametrize(
    "late",
    [
        # Gemini API: a whole second response in one chunk, under another finish reason.
        _c(
            {
                "role": "assistant",
                "tool_calls": [{"id": "", "function": {"name": "get_weather", "arguments": "{}"}}],
            },
            "tool_calls",
        ),
        _c({"tool_calls": [{"index": 0, "function": {"name": "late_name"}}]}),
        _c({"tool_calls": [{"index": 0, "id": "late_id"}]}),
        _c({"function_call": {"name": "late"}}),
    ],
)
def test_names_ids_and_whole_calls_after_the_finish_are_refused(late: dict[str, Any]) -> None:
    """A name, an id or a whole call for a finished choice is late data, never merged; the restated-finish
    exception needs the same finish reason on a choice that already made calls."""
    assembler = StreamAssembler()
    assembler.feed(
        _c({"content": "It is sunny.", "tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}, "stop")
    )
    with pytest.raises(MalformedChunkError, match="already finished"):
        assembler.feed(late)


class _Boom:
    def __bool__(self) -> bool:
        raise ValueError("no truth value")

    def __eq__(self, other: object) -> bool:
        raise ValueError("no equality")

    __hash__ = None  # type: ignore[assignment]


class _HashBoom:
    def __hash__(self) -> int:
        raise ValueError("no hash")


@pytest.mark.parametrize(
    "chunk_",
    [
        {"choices": _Boom()},
        {"error": _Boom()},
        {"id": _Boom()},
        {"choices": [{"index": 0, "delta": _Boom()}]},
        {"choices": [{"index": 0, "delta": {"audio": {"id": _Boom()}}}]},
        {"choices": [{"index": 0, "delta": {"reasoning_details": [{"type": "t", "index": _HashBoom()}]}}]},
    ],
    ids=["choices", "error", "id", "delta", "audio id", "index whose hash raises"],
)
def test_a_callers_object_that_raises_when_read_is_a_malformed_chunk(chunk_: dict[str, Any]) -> None:
    """A value whose truth test, equality or hash raises (a numpy array, say) fails as MalformedChunkError."""
    assembler = StreamAssembler()
    assembler.feed(_c({"content": "kept"}))
    with pytest.raises(ChunkwiseError):
        assembler.feed(chunk_)
    assert assembler.state is chunkwise.State.FAILED


def test_max_depth_is_capped_so_what_is_kept_stays_dumpable() -> None:
    """max_depth above 200 is refused: pydantic cannot serialize what such a limit would accept."""
    with pytest.raises(ValueError, match="at most 200"):
        StreamAssembler(max_depth=300)
    run([chunk(delta_choice(content="a", finish="stop"), x=nested(199))], max_depth=200)[0].model_dump_json()


def test_a_half_surrogate_before_a_non_text_part_is_replaced_and_counted() -> None:
    """A lone high surrogate that ends a text run cut by a non-text part becomes U+FFFD, counted."""
    completion, events = run(
        [
            _c({"content": [{"type": "text", "text": "a\ud83d"}]}),
            _c({"content": [{"type": "image"}, {"type": "text", "text": "b"}]}, "stop"),
        ]
    )
    assert completion.message.content == [
        {"type": "text", "text": "a\ufffd"},
        {"type": "image"},
        {"type": "text", "text": "b"},
    ]
    assert completion.replaced_characters == 1
    assert "".join(e.delta for e in events if isinstance(e, chunkwise.ContentDelta)) == "a\ufffdb"


def test_an_unclosed_flagged_thought_block_ends_where_the_flag_does() -> None:
    """Gemini flags thinking; when the unflagged answer opens without `</thought>`, it is still answer."""
    for tag in (None, "think"):
        completion, _ = run(
            [
                _c({"content": "<thought>plan", "extra_content": {"google": {"thought": True}}}),
                _c({"content": "The answer is 4."}, "stop"),
            ],
            thought_tag=tag,
        )
        assert (completion.message.reasoning_content, completion.message.content) == (
            "plan",
            "The answer is 4.",
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"choices": [{"index": 0, "delta": {"content": "a"}, "message": {"content": "whole"}}]},
        {"choices": [], "done_received": True},
        _c({"annotations": {"not": "a list"}}),
        _c({"tool_calls": [{"index": 0, "id": "c", "arguments_error": "x"}]}),
    ],
)
def test_fields_named_like_the_results_own_are_refused_not_dropped(bad: dict[str, Any]) -> None:
    """A server field named like one the result declares at that level would be dropped or overwrite ours:
    it fails as malformed instead of vanishing."""
    with pytest.raises(MalformedChunkError):
        run([bad])


@pytest.mark.parametrize("source", [None, 5, 1.5, object()], ids=["None", "int", "float", "object"])
def test_assemble_of_something_not_a_stream_is_malformed(source: object) -> None:
    """No other exception leaves, for any input: `assemble(None)` let a TypeError out (hostile review),
    where `parse_completion(None)` already raised MalformedChunkError."""
    with pytest.raises(MalformedChunkError, match="assemble\\(\\) takes") as caught:
        chunkwise.assemble(source)  # type: ignore[arg-type]
    assert caught.value.partial is not None


def test_sse_text_fed_as_a_payload_says_so() -> None:
    """`assemble(response.iter_lines())` reads each str as one payload: the error says it is SSE text."""
    with pytest.raises(MalformedChunkError, match="this is SSE text"):
        chunkwise.assemble(['data: {"choices": []}', ""])
    with pytest.raises(MalformedChunkError) as caught:
        chunkwise.assemble(["{not json"])
    assert "SSE" not in str(caught.value)


def test_a_fragment_refused_midway_leaves_its_events_with_what_it_merged() -> None:
    """A call made by a fragment whose later field is refused stays in the partial: its
    ToolCallStarted (and arguments) must be in the events too. And whole calls on an entry restating
    the finish are complete on arrival: each has its Done, even when a later fragment is refused
    (a review: the partial held a call the events never started, or never finished)."""
    a = StreamAssembler()
    a.feed(_c({"content": "Let me check."}))
    bad = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
        "extra_content": 5,
    }
    with pytest.raises(MalformedChunkError) as caught:
        a.feed(_c({"tool_calls": [bad]}))
    calls = caught.value.partial.message.tool_calls or []
    assert [(c.id, c.function.arguments) for c in calls if c.function] == [("call_1", "{}")]
    started = [e for e in caught.value.events if isinstance(e, chunkwise.ToolCallStarted)]
    deltas = [e.delta for e in caught.value.events if isinstance(e, chunkwise.ToolCallArgumentsDelta)]
    assert [(e.id, e.name) for e in started] == [("call_1", "get_weather")] and deltas == ["{}"]

    a = StreamAssembler()
    whole = {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    a.feed(_c({"tool_calls": [whole]}, "tool_calls"))
    second = {"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    with pytest.raises(MalformedChunkError) as caught:
        a.feed(_c({"tool_calls": [second, {"index": 1, "type": "custom"}]}, "tool_calls"))
    done = [e.id for e in caught.value.events if isinstance(e, chunkwise.ToolCallDone)]
    assert [c.id for c in caught.value.partial.message.tool_calls or []] == ["a", "b"] and done == ["b"]


def test_a_custom_call_named_function_later_is_sent_as_both() -> None:
    """`type: "function"` on a custom call was kept (a call of type function with a custom body, sent
    back so); the reverse was already refused. Both directions are one rule now."""
    a = StreamAssembler()
    a.feed(_c({"tool_calls": [{"index": 0, "id": "c1", "custom": {"name": "run", "input": "ls"}}]}))
    with pytest.raises(MalformedChunkError, match="both as a function and as a custom call"):
        a.feed(_c({"tool_calls": [{"index": 0, "type": "function"}]}, "tool_calls"))


@pytest.mark.parametrize("option", ["require_done", "emit_events", "thought_open"])
@pytest.mark.parametrize("value", ["no", 0, 1, None])
def test_the_flags_must_be_bools(option: str, value: object) -> None:
    """`require_done="no"` required `[DONE]` (a truthy string); every flag is a bool or a ValueError,
    as the constructor's other options are (a review)."""
    with pytest.raises(ValueError, match=f"{option} must be True or False"):
        StreamAssembler(thought_tag="think", **{option: value})  # type: ignore[arg-type]
