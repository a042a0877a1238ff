"""Cutting a log of several responses back to back into one stream per response (``_split``)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chunkwise
from chunkwise import strategies as cs
from chunkwise._split import split_responses

from helpers import FIXTURES, chunk, delta_choice, shared_dir

SHARED = shared_dir()
REAL = SHARED / "fixtures" / "real" if SHARED is not None else None
RECORDINGS = sorted(REAL.rglob("*.sse")) if REAL is not None else []
CEREBRAS = "cerebras/zai-glm-4.7-structured-tools.sse"
needs_shared = pytest.mark.skipif(REAL is None, reason="../shared is not beside this checkout")

PROPERTY = settings(max_examples=100, deadline=None)


def body(*chunks: Any, done: bool = False) -> bytes:
    """An SSE body: each chunk as `data: <json>` (a str is written verbatim as one whole event)."""
    events = [c if isinstance(c, str) else f"data: {json.dumps(c)}\n\n" for c in chunks]
    if done:
        events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def dumped(piece: bytes) -> dict[str, Any]:
    return chunkwise.assemble(piece).model_dump(exclude_none=True)


# A whole response: role, text, finish.
def response(text: str, id: str = "chatcmpl-1", **usage: Any) -> list[dict[str, Any]]:
    chunks = [
        chunk(delta_choice(role="assistant"), id=id),
        chunk(delta_choice(content=text), id=id),
        chunk(delta_choice(finish="stop"), id=id),
    ]
    if usage:
        chunks.append(chunk(choices=[], id=id, usage=usage))
    return chunks


# ---------------------------------------------------------------- the recordings


@needs_shared
@pytest.mark.parametrize("line_ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_cerebras_log_splits_into_its_two_responses(line_ending: bytes) -> None:
    """The Cerebras log (two responses, no [DONE]) gives two pieces, each a whole completion."""
    assert REAL is not None
    data = (REAL / CEREBRAS).read_bytes().replace(b"\n", line_ending)
    pieces = split_responses(data)
    assert len(pieces) == 2 and b"".join(pieces) == data
    first, second = (chunkwise.assemble(piece) for piece in pieces)
    assert first.id.startswith("chatcmpl-9e97f9ca-") and second.id.startswith("chatcmpl-f4bd7eab-")
    assert first.choices[0].finish_reason == second.choices[0].finish_reason == "tool_calls"
    assert [call.function.name for call in first.choices[0].message.tool_calls or [] if call.function] == [
        "nonUsefulTool"
    ]
    assert second.choices[0].message.content == '{"result": "2026"}'
    assert second.usage is not None and second.usage.prompt_tokens == 433


@needs_shared
@pytest.mark.parametrize(
    "path",
    [p for p in RECORDINGS if REAL is not None and p.relative_to(REAL).as_posix() != CEREBRAS],
    ids=lambda p: p.relative_to(REAL).as_posix() if REAL is not None else str(p),
)
def test_every_other_recording_is_one_response(path: Path) -> None:
    """Every other real recording, finished, failed or cut short, is one piece equal to the file."""
    data = path.read_bytes()
    assert split_responses(data) == [data]


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.rglob("*.sse")), ids=lambda p: p.relative_to(FIXTURES).as_posix()
)
def test_every_fixture_is_one_response(path: Path) -> None:
    """Every stream in fixtures/ is one piece equal to the file."""
    data = path.read_bytes()
    assert split_responses(data) == [data]


# ---------------------------------------------------------------- where a response begins


def test_metadata_after_the_finish_stays_with_its_response() -> None:
    """Usage, a trailing signature, a repeated finish and a whole call on a restated finish stay."""
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    call = {"index": 1, "id": "call_2", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    data = body(
        chunk(delta_choice(role="assistant", tool_calls=[first])),
        chunk(delta_choice(finish="tool_calls")),
        chunk(delta_choice(extra_content={"google": {"thought_signature": "c2ln"}})),
        chunk(delta_choice(finish="tool_calls")),
        chunk(delta_choice(finish="tool_calls", role="assistant", tool_calls=[call])),  # OpenRouter (§11.3)
        chunk(delta_choice(role="assistant", content=""), usage={"prompt_tokens": 1, "total_tokens": 2}),
        chunk(choices=[], usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
        ": keep-alive\n\n",
    )
    assert split_responses(data) == [data]
    assert len(chunkwise.assemble(data).choices[0].message.tool_calls or []) == 2


@pytest.mark.parametrize("finish", ["tool_calls", "stop"])
def test_a_whole_call_in_one_finishing_chunk_after_a_text_answer_is_a_new_response(finish: str) -> None:
    """The restated-finish exception is the assembler's, no wider: the same finish on a choice that
    made calls. After a text answer, a chunk with a whole call and a finish is the next response."""
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    first = body(*response("hi", id="r0"))
    second = body(chunk(delta_choice(role="assistant", tool_calls=[call], finish=finish), id="r1"))
    assert split_responses(first + second) == [first, second]
    with pytest.raises(chunkwise.MalformedChunkError):
        chunkwise.assemble(first + second)


def test_an_id_change_alone_is_no_boundary() -> None:
    """OpenRouter changes `id` inside one response: no cut where only the id changes."""
    data = body(
        chunk(delta_choice(role="assistant"), id="chatcmpl-a"),
        chunk(delta_choice(content="hi"), id="gen-b"),
        chunk(delta_choice(finish="stop"), id="gen-b"),
        chunk(delta_choice(role="assistant", content=""), id="gen-c", usage={"total_tokens": 3}),
    )
    assert split_responses(data) == [data]


def test_a_new_response_begins_at_its_role_chunk() -> None:
    """Content for a finished choice proves a new response, which began at the chunk naming its role."""
    first, second = body(*response("one", id="a")), body(*response("two", id="b"))
    assert split_responses(first + second) == [first, second]
    assert [dumped(p)["choices"][0]["message"]["content"] for p in (first, second)] == ["one", "two"]


def test_a_trailer_naming_the_role_stays_before_the_next_response() -> None:
    """OpenRouter's trailing role-and-usage chunk stays with its response, even right before the next one."""
    trailer = chunk(delta_choice(role="assistant", content=""), id="a", usage={"total_tokens": 3})
    first = body(*response("one", id="a"), trailer)
    for second in (body(*response("two", id="b")), body(*response("two", id="a"))):
        pieces = split_responses(first + second)
        assert b"".join(pieces) == first + second
        assert [dumped(p)["choices"][0]["message"]["content"] for p in pieces] == ["one", "two"]
    assert split_responses(first + body(*response("two", id="b"))) == [first, body(*response("two", id="b"))]


def test_a_response_whose_id_changes_after_its_role_chunk_is_cut_at_the_role() -> None:
    """A response opening like OpenRouter's (role under one id, content under another) is cut at its role."""
    first = body(*response("one", id="a"))
    second = body(
        chunk(delta_choice(role="assistant"), id="chatcmpl-b"),
        chunk(delta_choice(content="two"), id="gen-b"),
        chunk(delta_choice(finish="stop"), id="gen-b"),
    )
    assert split_responses(first + second) == [first, second]


def test_a_new_choice_under_a_new_id_or_anything_after_done_opens_a_response() -> None:
    """After every choice finished, an unseen choice under a new id opens a response; after [DONE], any chunk."""
    first = body(*response("one"))
    other = body(
        chunk(delta_choice(1, role="assistant"), id="b"),
        chunk(delta_choice(1, content="x", finish="stop"), id="b"),
    )
    assert split_responses(first + other) == [first, other]
    serial = first + body(
        chunk(delta_choice(1, role="assistant")), chunk(delta_choice(1, content="x", finish="stop"))
    )
    assert split_responses(serial) == [serial]
    assert [c["index"] for c in dumped(serial)["choices"]] == [0, 1]
    done = body(*response("one"), done=True)
    usage_first = body(chunk(choices=[], usage={"total_tokens": 1}), *response("two"))
    assert split_responses(done + usage_first) == [done, usage_first]


def test_events_carrying_nothing_go_with_the_response_they_precede() -> None:
    """Comments, empty data and extra blank lines between responses open the next piece."""
    first = body(*response("one"), done=True)
    second = b": OPENROUTER PROCESSING\n\ndata:\n\n\n" + body(*response("two"))
    assert split_responses(first + second) == [first, second]


def test_late_content_of_each_kind_proves_a_new_response() -> None:
    """Thinking, refusal, logprobs tokens, audio, content parts, calls and function_call each open a response."""
    first = body(
        chunk(
            delta_choice(role="assistant", tool_calls=[{"index": 0, "id": "c1", "function": {"name": "f"}}])
        ),
        chunk(delta_choice(finish="tool_calls")),
    )
    openers: list[dict[str, Any]] = [
        delta_choice(reasoning_content="hm"),
        delta_choice(reasoning="hm"),
        delta_choice(reasoning_details=[{"type": "reasoning.text", "text": "hm"}]),
        delta_choice(refusal="no"),
        delta_choice(audio={"transcript": "hi"}),
        delta_choice(content=[{"type": "image_url", "image_url": {"url": "x"}}]),
        delta_choice(function_call={"name": "g"}),
        delta_choice(tool_calls=[{"index": 1, "id": "c2", "function": {"name": "g", "arguments": ""}}]),
        delta_choice(tool_calls=[{"index": 0, "function": {"arguments": "{}"}}]),
        {"index": 0, "delta": {}, "logprobs": {"content": [{"token": "a", "logprob": 0.0}]}},
    ]
    for entry in openers:
        second = body(chunk(entry), chunk(delta_choice(finish="stop")))
        assert split_responses(first + second) == [first, second], entry


def test_unreadable_logs_come_back_whole() -> None:
    """Invalid UTF-8 or a malformed payload never raises; an unreadable log is one piece."""
    two = body(*response("one"), *response("two"))
    assert len(split_responses(two)) == 2
    broken = two + b"data: \xff\n\n"
    assert split_responses(broken) == [broken]
    for data in (b"", b"\n\n", b"data: {\n\n", b"data: [1]\n\ndata: [DONE]\n\n", "data: é".encode()):
        assert split_responses(data) == [data]


def test_split_responses_is_a_plain_picklable_function() -> None:
    """It pickles by reference (for process pools, Dask, Ray) and takes bytes-like input only."""
    assert pickle.loads(pickle.dumps(split_responses)) is split_responses
    data = body(*response("one"))
    assert split_responses(bytearray(data)) == split_responses(memoryview(data)) == [data]
    with pytest.raises(TypeError):
        split_responses("data: {}")  # type: ignore[arg-type]


# ---------------------------------------------------------------- properties


def _says_something(completion: dict[str, Any]) -> bool:
    """Each choice brings content: a response of only a role and a finish reads as metadata."""
    for choice in completion["choices"]:
        message = choice["message"]
        calls = [c.get("function") or c.get("custom") or {} for c in message.get("tool_calls") or []]
        calls.append(message.get("function_call") or {})
        texts = [message.get(key) for key in ("content", "reasoning_content", "refusal")]
        texts += [c.get("arguments") or c.get("input") for c in calls]
        if not any(texts):
            return False
    return True


@PROPERTY
@given(st.data())
def test_generated_responses_back_to_back_split_into_each(data: st.DataObject) -> None:
    """N generated completions written back to back split into N pieces, each assembling to its completion."""
    count = data.draw(st.integers(1, 4), label="count")
    line_ending = data.draw(st.sampled_from(("\n", "\r\n", "\r")), label="line_ending")
    # With one id for all, responses stay one choice each: a choice opening after every other one
    # finished, under the same id, is one response streaming its choices one after another.
    same_id = data.draw(st.booleans(), label="same_id")
    completions, bodies = [], []
    for position in range(count):
        completion, chunks = data.draw(cs.completion_streams(max_choices=1 if same_id else 2))
        assume(_says_something(completion))
        new_id = "chatcmpl-same" if same_id else f"chatcmpl-{position}-{completion['id']}"
        completion["id"] = new_id
        chunks = [{**c, "id": new_id} for c in chunks]
        completions.append(completion)
        bodies.append(cs.sse_bytes(chunks, done=data.draw(st.booleans()), line_ending=line_ending))
    log = b"".join(bodies)
    pieces = split_responses(log)
    assert pieces == bodies
    assert [dumped(piece) for piece in pieces] == completions


SSE_LINES = st.sampled_from(
    [
        "data: [DONE]",
        "",
        ": comment",
        "event: error",
        "id: 7",
        "data: {",
        '{"error": {"code": 1}}',
        json.dumps(chunk(delta_choice(role="assistant"))),
        "data: " + json.dumps(chunk(delta_choice(role="assistant"))),
        "data: " + json.dumps(chunk(delta_choice(content="x"))),
        "data: " + json.dumps(chunk(delta_choice(1, content="y"))),
        "data: " + json.dumps(chunk(delta_choice(finish="stop"))),
        "data: " + json.dumps(chunk(delta_choice(1, finish="stop"))),
        "data: " + json.dumps(chunk(choices=[], usage={"total_tokens": 1})),
    ]
)


@PROPERTY
@given(st.one_of(st.binary(), st.lists(SSE_LINES).map(lambda lines: "\n".join(lines).encode())))
def test_any_bytes_split_without_raising_and_join_back(data: bytes) -> None:
    """Any input gives pieces, none empty unless the input is, that join back to the input."""
    pieces = split_responses(data)
    assert b"".join(pieces) == data
    assert all(pieces) or pieces == [b""]


def test_a_turn_of_calls_between_two_answers_is_its_own_response() -> None:
    """A response of calls that opens with a role chunk, then a text answer without one: three
    responses, each assembling, the text whole (the chunk proving the third is asked again against
    the second once its held chunks make it)."""
    call = {"index": 0, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    first = body(
        chunk(delta_choice(role="assistant", tool_calls=[{**call, "id": "a"}], finish="tool_calls"), id="r0")
    )
    second = body(
        chunk(delta_choice(role="assistant"), id="r1"),
        chunk(delta_choice(tool_calls=[{**call, "id": "b"}], finish="tool_calls"), id="r1"),
    )
    third = body(
        chunk(delta_choice(content="Hel"), id="r2"),
        chunk(delta_choice(content="lo"), id="r2"),
        chunk(delta_choice(finish="stop"), id="r2"),
    )
    assert split_responses(first + second + third) == [first, second, third]
    assert chunkwise.assemble(third).choices[0].message.content == "Hello"


def test_a_choice_that_opens_and_finishes_in_one_chunk_after_the_close_stays() -> None:
    """n=2 streamed one choice after the other, the second whole in one chunk (role, text and finish):
    it belongs to the response; the next response (another id) begins after it. (Hypothesis found
    the one-chunk choice cut off as a response of its own: "every choice finished again" was only
    checked for choices opened by an earlier chunk.)"""
    first = [
        chunk(delta_choice(role="assistant", content="a"), id="r1"),
        chunk(delta_choice(finish="stop"), id="r1"),
        chunk(delta_choice(1, finish="stop", role="assistant", refusal="no"), id="r1"),
    ]
    second = [chunk(delta_choice(role="assistant", refusal="no", finish="stop"), id="r2")]
    parts = [body(*first), body(*second)]
    assert split_responses(b"".join(parts)) == parts
