"""parse_completion: a non-streaming chat.completion read by the stream's rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import chunkwise
from chunkwise import (
    ChunkwiseError,
    IncompleteStreamError,
    MalformedChunkError,
    OutputParseError,
    ServerError,
)
from chunkwise._complete import completion_chunks

from helpers import FIXTURES

STREAMS = sorted(FIXTURES.rglob("*.sse"))


def spec_for(stream: Path) -> dict[str, Any]:
    return json.loads(stream.with_name(stream.name.replace(".sse", ".expected.json")).read_text())


def tag_of(spec: dict[str, Any]) -> str | None:
    args = spec["args"]
    return args[args.index("--thought-tag") + 1] if "--thought-tag" in args else None


COMPLETE = [s for s in STREAMS if spec_for(s)["exit_code"] == 0]


def test_every_complete_fixture_is_covered() -> None:
    """The equivalence below runs over every fixture that completes, the three Vertex ones included."""
    names = {s.relative_to(FIXTURES).as_posix() for s in COMPLETE}
    assert {"vertex/parallel-tool-calls.sse", "vertex/image-generation.sse"} <= names
    assert len(COMPLETE) >= 8


@pytest.mark.parametrize("stream", COMPLETE, ids=lambda p: p.relative_to(FIXTURES).as_posix())
@pytest.mark.parametrize("form", ["dict", "text", "bytes"])
def test_stream_and_whole_body_give_the_same_completion(stream: Path, form: str) -> None:
    """Assembling a fixture's stream and parsing its non-streaming body give equal results."""
    spec = spec_for(stream)
    tag = tag_of(spec)
    streamed = chunkwise.assemble(stream.read_bytes(), thought_tag=tag)
    body: Any = copy.deepcopy(spec["completion"])  # the expected completion is the non-streaming shape
    if form != "dict":
        body = json.dumps(body) if form == "text" else json.dumps(body).encode()
    whole = chunkwise.parse_completion(body, thought_tag=tag)
    assert whole.model_dump() == streamed.model_dump()
    assert whole.done_received
    for got, want in zip(whole.choices, streamed.choices, strict=True):
        assert got.message.to_request_message() == want.message.to_request_message()
        errors = [c.arguments_error for c in got.message.tool_calls or []]
        assert errors == [c.arguments_error for c in want.message.tool_calls or []]


def test_the_input_is_left_alone() -> None:
    """Parsing a dict body neither changes it nor shares mutable state with the result."""
    body = copy.deepcopy(spec_for(FIXTURES / "vertex/parallel-tool-calls.sse")["completion"])
    before = copy.deepcopy(body)
    result = chunkwise.parse_completion(body)
    assert body == before
    assert result.message.tool_calls is not None
    extra = result.message.tool_calls[0].extra_content
    assert extra is not None
    extra["google"]["thought_signature"] = "changed"
    assert body == before


# The documented Vertex image-generation response (`modalities: ["image"]`), a 1x1 PNG for the bytes.
IMAGE = {
    "choices": [
        {
            "finish_reason": "stop",
            "index": 0,
            "logprobs": None,
            "message": {
                "audio": {"data": "iVBORw0KGgo=", "extra_content": {"google": {"mime_type": "image/png"}}},
                "content": None,
                "extra_content": {"google": {"thought_signature": "c2ln"}},
                "role": "assistant",
            },
        }
    ],
    "created": 1770850692,
    "id": "hAmNaZb8BZOX4_UPlNXoEA",
    "model": "google/gemini-3-pro-image-preview",
    "object": "chat.completion",
    "system_fingerprint": "",
    "usage": {
        "completion_tokens": 1120,
        "completion_tokens_details": {"reasoning_tokens": 251},
        "extra_properties": {"google": {"traffic_type": "PROVISIONED_THROUGHPUT"}},
        "prompt_tokens": 7,
        "total_tokens": 1378,
    },
}


def test_image_generation_answer() -> None:
    """The image stays in message.audio.data with its mime type; signature and usage are kept whole."""
    completion = chunkwise.parse_completion(json.dumps(IMAGE))
    message = completion.message
    assert message.audio is not None and message.audio.data == "iVBORw0KGgo="
    assert message.audio.extra_content == {"google": {"mime_type": "image/png"}}
    assert message.content is None and message.thought_signature == "c2ln"
    assert completion.usage is not None and completion.usage.model_dump() == IMAGE["usage"]
    assert completion.model_dump(exclude_none=True)["choices"][0]["message"] == {
        k: v
        for k, v in IMAGE["choices"][0]["message"].items()
        if v is not None  # type: ignore[index]
    }
    assert message.to_request_message()["extra_content"] == {"google": {"thought_signature": "c2ln"}}


def test_multimodal_answer_with_thinking_parts_and_signed_calls() -> None:
    """Tagged thinking is split out, content parts and each call's signature stay where they came."""
    body = {
        "id": "bA-NacCPKoae_9MPsNCn6Qc",
        "object": "chat.completion",
        "created": 1770852204,
        "model": "google/gemini-3-pro-preview",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "<think>The shirt is green.</think>Here is the image of the green shirt you ordered.",
                    "extra_content": {"google": {"thought_signature": "bXNn"}},
                },
            },
            {
                "index": 1,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Fetching. "},
                        {"type": "image_url", "image_url": "gs://x"},
                    ],
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "get_image", "arguments": '{"item": 1}'},
                            "extra_content": {"google": {"thought_signature": "c2ln"}},
                        },
                        {"type": "function", "function": {"name": "get_image", "arguments": '{"item": 2}'}},
                    ],
                },
            },
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
    }
    completion = chunkwise.parse_completion(body, thought_tag="think")
    first, second = (c.message for c in completion.choices)
    assert (first.content, first.reasoning_content) == (
        "Here is the image of the green shirt you ordered.",
        "The shirt is green.",
    )
    assert first.thought_signature == "bXNn"
    assert second.content == [
        {"type": "text", "text": "Fetching. "},
        {"type": "image_url", "image_url": "gs://x"},
    ]
    calls = second.tool_calls or []
    assert [c.parsed_arguments for c in calls] == [{"item": 1}, {"item": 2}]
    assert [c.thought_signature for c in calls] == ["c2ln", None]
    sent = completion.to_request_message(1)
    assert [c.get("extra_content") for c in sent["tool_calls"]] == [
        {"google": {"thought_signature": "c2ln"}},
        None,
    ]


def test_gemini_thought_flag_in_a_whole_message() -> None:
    """A message flagged as thought by Gemini is thinking, not answer, as in a stream."""
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "content": "<thought>hmm</thought>",
                    "extra_content": {"google": {"thought": True}},
                },
            }
        ]
    }
    completion = chunkwise.parse_completion(body)
    assert completion.message.reasoning_content == "hmm"
    assert completion.message.content in ("", None)
    streamed = chunkwise.assemble(completion_chunks(body))
    assert completion.model_dump() == streamed.model_dump()


def test_http_reads_a_json_answer_with_the_same_conversion() -> None:
    """chunkwise.http reads a whole JSON answer with the checked conversion this module owns."""
    from chunkwise import _complete, http

    assert http.checked_chunks is _complete.checked_chunks


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b"{not json", MalformedChunkError, "invalid JSON"),
        (b"\xff{}", MalformedChunkError, "not valid UTF-8"),
        ("[1, 2]", MalformedChunkError, "not an object: list"),
        ("{}", MalformedChunkError, "`choices` must be a list"),
        ({"choices": "x"}, MalformedChunkError, "`choices` must be a list"),
        ({"choices": [3]}, MalformedChunkError, "`choices[0]` must be an object"),
        ({"choices": [{"message": "hi", "finish_reason": "stop"}]}, MalformedChunkError, "must be an object"),
        ({"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}]}, MalformedChunkError, "a chunk"),
        ({"choices": [{"message": {"content": 5}, "finish_reason": "stop"}]}, MalformedChunkError, "content"),
        ({"choices": [{"message": {}}]}, IncompleteStreamError, "before choice 0 finished"),
        ({"choices": []}, IncompleteStreamError, "before any choice"),
        ({"error": {"message": "quota", "code": 429}}, ServerError, "quota"),
        ('[{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}]', ServerError, "INVALID_ARGUMENT"),
        (12, MalformedChunkError, "from a int"),
        (
            {"choices": [{"finish_reason": "stop", "message": {"tool_calls": [{"id": "a"}, {"id": "a"}]}}]},
            MalformedChunkError,
            "two calls with id 'a'",
        ),
    ],
)
def test_bad_bodies_raise_our_errors(body: Any, error: type[ChunkwiseError], words: str) -> None:
    """Each kind of bad body raises the matching ChunkwiseError, naming what is wrong, with a partial."""
    with pytest.raises(error) as info:
        chunkwise.parse_completion(body)
    assert words in info.value.message
    assert info.value.partial is not None


class Hostile:
    """A caller's object that raises from every comparison and truth test."""

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise RuntimeError("no truth")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no equality")


@pytest.mark.parametrize(
    "body",
    [
        {"error": Hostile()},
        {Hostile(): 1, "choices": []},
        {"choices": [{"finish_reason": "stop", "message": {"content": "x", "extra": Hostile()}}]},
        {"choices": [{"finish_reason": "stop", "message": {"tool_calls": [{"id": Hostile()}]}}]},
    ],
)
def test_a_callers_objects_that_raise_are_malformed(body: dict[Any, Any]) -> None:
    """Whatever a caller's dict holds, what leaves is MalformedChunkError."""
    with pytest.raises(MalformedChunkError):
        chunkwise.parse_completion(body)


def test_a_bad_thought_tag_is_the_callers_value_error() -> None:
    """A thought tag that is not a tag name is refused as the assembler refuses it."""
    with pytest.raises(ValueError, match="thought_tag"):
        chunkwise.parse_completion({"choices": []}, thought_tag="<think>")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["choices", "message", "index", "finish_reason", "content", "tool_calls", "usage", "error"]
)
# Values shaped like completions, so the checks past the first ones are reached too.
SHAPED = st.recursive(
    JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(JSON, SHAPED), as_text=st.booleans())
def test_any_json_value_gives_a_completion_or_our_error(value: Any, as_text: bool) -> None:
    """Totality: any JSON value, as a value or as text, parses or raises a ChunkwiseError."""
    error: ChunkwiseError | None = None
    try:
        chunkwise.parse_completion(json.dumps(value) if as_text else value)
    except ChunkwiseError as exc:
        error = exc
    assert error is None or error.partial is not None


# ---------------------------------------------------------------- structured output
# Message.parse and ToolCall.parse_arguments live in _models; they are tested here, on whole bodies.


class CalendarEvent(BaseModel):
    """The seed documentation's structured-output model."""

    name: str
    date: str
    participants: list[str]


EVENT = {"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]}


def answer(finish: str = "stop", **message: Any) -> dict[str, Any]:
    """A one-choice chat.completion with the given message fields."""
    return {"choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", **message}}]}


def test_message_parse_gives_the_validated_model() -> None:
    """JSON content validates into the model, from text or from text parts."""
    completion = chunkwise.parse_completion(answer(content=json.dumps(EVENT)))
    choice = completion.choices[0]
    assert choice.message.parse(CalendarEvent, finish_reason=choice.finish_reason) == CalendarEvent(**EVENT)
    text = json.dumps(EVENT)
    parts = [
        {"type": "text", "text": text[:10]},
        {"type": "image_url", "image_url": "x"},
        {"type": "text", "text": text[10:]},
    ]
    message = chunkwise.parse_completion(answer(content=parts)).message
    assert message.parse(CalendarEvent) == CalendarEvent(**EVENT)


def test_tool_call_parse_arguments_gives_the_validated_model() -> None:
    """A call's JSON arguments validate into the model."""
    call = {"id": "c", "type": "function", "function": {"name": "add_event", "arguments": json.dumps(EVENT)}}
    message = chunkwise.parse_completion(answer("tool_calls", tool_calls=[call])).message
    assert message.tool_calls is not None
    assert message.tool_calls[0].parse_arguments(CalendarEvent, finish_reason="tool_calls") == CalendarEvent(
        **EVENT
    )


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"name": "x"}', "2 error(s)"),  # valid JSON, not valid for the model
        ('{"name": ', "not a valid CalendarEvent"),  # not JSON
    ],
)
def test_invalid_output_names_the_validation_error(content: str, words: str) -> None:
    """Content that is not JSON, or not the model, raises OutputParseError carrying pydantic's error."""
    message = chunkwise.parse_completion(answer(content=content)).message
    with pytest.raises(OutputParseError) as info:
        message.parse(CalendarEvent, finish_reason="stop")
    error = info.value
    assert error.reason == "invalid" and words in error.message and error.text == content
    assert isinstance(error.validation_error, ValidationError)
    assert isinstance(error.__cause__, ValidationError)


@pytest.mark.parametrize("finish", ["length", "content_filter"])
def test_output_cut_by_the_finish_reason_is_named_as_cut(finish: str) -> None:
    """A length or content_filter finish is the reason, even when the text happens to parse."""
    body = answer(finish, content=json.dumps(EVENT))
    call = {"id": "c", "function": {"name": "add_event", "arguments": '{"name": "Sci'}}
    body["choices"][0]["message"]["tool_calls"] = [call]
    choice = chunkwise.parse_completion(body).choices[0]
    with pytest.raises(OutputParseError) as info:
        choice.message.parse(CalendarEvent, finish_reason=choice.finish_reason)
    assert (info.value.reason, info.value.finish_reason) == (finish, finish)
    assert info.value.text == json.dumps(EVENT)  # the text that came, to salvage (a review: it was None)
    assert choice.message.tool_calls is not None
    with pytest.raises(OutputParseError) as info:
        choice.message.tool_calls[0].parse_arguments(CalendarEvent, finish_reason=choice.finish_reason)
    assert info.value.reason == finish and "cut short" in info.value.message
    assert info.value.text == '{"name": "Sci'
    custom = {"id": "k", "type": "custom", "custom": {"name": "run", "input": "ls -"}}
    body["choices"][0]["message"]["tool_calls"] = [custom]
    cut_custom = (chunkwise.parse_completion(body).message.tool_calls or [])[0]
    with pytest.raises(OutputParseError) as info:
        cut_custom.parse_arguments(CalendarEvent, finish_reason=finish)
    assert (info.value.reason, info.value.text) == (finish, "ls -")


def test_a_refusal_is_named_as_a_refusal() -> None:
    """A refusal raises with the refusal's text, before anything is parsed."""
    message = chunkwise.parse_completion(answer(refusal="I can't help with that.")).message
    with pytest.raises(OutputParseError) as info:
        message.parse(CalendarEvent, finish_reason="stop")
    assert (info.value.reason, info.value.refusal) == ("refusal", "I can't help with that.")


def test_nothing_to_parse_is_empty() -> None:
    """No content, or a custom call's free-form input, raises with reason `empty`."""
    message = chunkwise.parse_completion(answer(content=None)).message
    with pytest.raises(OutputParseError) as info:
        message.parse(CalendarEvent)
    assert info.value.reason == "empty"
    custom = {"id": "c", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}
    message = chunkwise.parse_completion(answer("tool_calls", tool_calls=[custom])).message
    assert message.tool_calls is not None
    with pytest.raises(OutputParseError) as info:
        message.tool_calls[0].parse_arguments(CalendarEvent)
    assert info.value.reason == "empty"


def test_choice_parse_knows_its_finish_reason() -> None:
    """`choice.parse(Model)` reports JSON cut by a `length` finish as cut, without being told."""
    body = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": '{"name": "x'},
                "finish_reason": "length",
            }
        ]
    }
    choice = chunkwise.parse_completion(body).choices[0]
    with pytest.raises(chunkwise.OutputParseError) as caught:
        choice.parse(CalendarEvent)
    assert caught.value.reason == "length"


def test_choices_without_an_index_take_their_position() -> None:
    """A whole body lists its choices in order: without `index`, n=2 read as choice 0 finished twice
    (hostile review: a misleading "already finished" error)."""
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"message": {"role": "assistant", "content": "one"}, "finish_reason": "stop"},
            {"message": {"role": "assistant", "content": "two"}, "finish_reason": "length"},
        ],
    }
    completion = chunkwise.parse_completion(body)
    assert [(c.index, c.message.content, c.finish_reason) for c in completion.choices] == [
        (0, "one", "stop"),
        (1, "two", "length"),
    ]


def test_parse_refuses_nan_and_infinity_as_the_rest_of_chunkwise_does() -> None:
    """`parse` and `parse_arguments` validated `NaN`/`Infinity` (pydantic reads them), while the same
    call's `arguments_error` said they are not JSON (a review)."""

    class F(BaseModel):
        x: float

    call = {"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"x": Infinity}'}}
    message = chunkwise.parse_completion(answer(content='{"x": NaN}', tool_calls=[call])).message
    with pytest.raises(OutputParseError, match="NaN is not a JSON value") as info:
        message.parse(F, finish_reason="stop")
    assert info.value.reason == "invalid" and info.value.validation_error is None  # pydantic took it
    tool_call = (message.tool_calls or [])[0]
    assert tool_call.arguments_error is not None
    with pytest.raises(OutputParseError, match="Infinity is not a JSON value"):
        tool_call.parse_arguments(F, finish_reason="tool_calls")
    assert chunkwise.parse_completion(answer(content='{"x": 1.5}')).message.parse(
        F, finish_reason="stop"
    ) == F(x=1.5)


def test_parse_with_something_not_a_model_is_a_type_error() -> None:
    """`parse(dict)` failed with an AttributeError deep inside pydantic's call (a review)."""
    completion = chunkwise.parse_completion(answer(content="{}", refusal="no"))
    event = CalendarEvent(**EVENT)
    for model in (dict, event, "CalendarEvent"):
        with pytest.raises(TypeError, match="pydantic model class"):
            completion.message.parse(model)  # type: ignore[arg-type]
