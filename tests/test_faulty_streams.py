"""faulty_streams: each drawn fault's verdict is what chunkwise concludes, through the assembler
and through chunkwise.http; the options are checked; every fault and verdict is drawn; and a
client's own conclusion compared with the verdict exposes a naive client."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import chunkwise
from chunkwise import strategies as cs
from chunkwise._faulty import _reduce
from chunkwise.http import stream_chat
from chunkwise.replay import ReplayTransport, Status

from helpers import ROOT

STREAM_FAULTS = [f for f in cs.FAULTS if f != "error_status"]
URL = "https://example.invalid/v1/chat/completions"
# Deterministic searches, without shrinking: a test that looks for something finds it on every run.
# The search stops at the first hit. A truncated stream that still completes (cut after its finish) is
# about 1 in 100 draws, so 150 examples failed now and then: 1000 keeps that far from chance.
SEARCH = settings(database=None, derandomize=True, max_examples=1000, deadline=None, phases=[Phase.generate])

# Every (fault, verdict) pair the contract gives, and the require_done it needs.
VERDICTS = [
    ("truncated", chunkwise.IncompleteStreamError, False),
    ("truncated", None, False),
    ("done_missing", None, False),
    ("done_missing", chunkwise.IncompleteStreamError, True),
    ("duplicated_chunk", None, False),
    ("duplicated_chunk", chunkwise.MalformedChunkError, False),
    ("error_chunk", chunkwise.ServerError, False),
    ("error_event", chunkwise.ServerError, False),
    ("raw_error_line", chunkwise.ServerError, False),
    ("malformed_json", chunkwise.MalformedChunkError, False),
    ("invalid_utf8", chunkwise.MalformedChunkError, False),
    ("error_status", chunkwise.HTTPStatusError, False),
]

any_stream_fault = st.booleans().flatmap(
    lambda done: cs.faulty_streams(faults=STREAM_FAULTS, require_done=done)
)


def _conclude(pieces: list[bytes], require_done: bool) -> tuple[Any, dict[str, Any]]:
    """What chunkwise concludes from ``pieces``: the error (or None) and the completion it kept."""
    assembler = chunkwise.StreamAssembler(require_done=require_done)
    try:
        for piece in pieces:
            assembler.feed_bytes(piece)
        assembler.close()
    except chunkwise.ChunkwiseError as exc:
        return exc, _dump(exc.partial)
    return None, _dump(assembler.completion)


def _dump(completion: chunkwise.ChatCompletion | None) -> dict[str, Any]:
    if completion is None:
        raise AssertionError("a stream's error must carry its partial")
    return completion.model_dump(exclude_none=True)


def _check_verdict(fault: cs.FaultyStream, error: Any, kept: dict[str, Any]) -> None:
    assert type(error) is (fault.error or type(None)), (fault.kind, error)
    assert kept == fault.partial
    if isinstance(error, chunkwise.ServerError):
        assert error.body == fault.error_body
    if isinstance(error, chunkwise.IncompleteStreamError):
        assert fault.partial is not None
        unfinished = [c["index"] for c in fault.partial["choices"] if "finish_reason" not in c]
        assert error.unfinished_choices == unfinished


@settings(max_examples=100, deadline=None)
@given(any_stream_fault, st.data())
def test_chunkwise_reaches_the_drawn_verdict_however_the_bytes_are_cut(
    fault: cs.FaultyStream, data: st.DataObject
) -> None:
    """Fed whole or cut anywhere, chunkwise raises exactly the drawn error class (or none) and keeps
    exactly the drawn partial completion (and a server error's body)."""
    assert fault.status == 200 and dict(fault.headers)["content-type"] == "text/event-stream"
    _check_verdict(fault, *_conclude([fault.body], fault.require_done))
    pieces = data.draw(cs.byte_pieces(fault.body), label="pieces")
    _check_verdict(fault, *_conclude(pieces, fault.require_done))


@settings(max_examples=30, deadline=None)
@given(any_stream_fault, st.integers(0, 2**16))
def test_the_verdict_holds_through_stream_chat(fault: cs.FaultyStream, seed: int) -> None:
    """Served by ReplayTransport in random pieces and read by chunkwise.http, the same verdict."""
    transport = ReplayTransport(fault.body, pieces="random", seed=seed)
    with httpx.Client(transport=transport) as client:
        try:
            with stream_chat(client, URL, json={"stream": True}, require_done=fault.require_done) as stream:
                error, kept = None, _dump(stream.until_done())
        except chunkwise.ChunkwiseError as exc:
            error, kept = exc, _dump(exc.partial)
    _check_verdict(fault, error, kept)


@settings(max_examples=15, deadline=None)
@given(cs.faulty_streams(faults=["error_status"]))
def test_an_error_status_is_an_http_status_error_through_replay_transport(fault: cs.FaultyStream) -> None:
    """The status fault carries a status, headers and a JSON error body, no stream: served by
    ReplayTransport's Status fault, stream_chat raises HTTPStatusError before any event."""
    assert fault.error is chunkwise.HTTPStatusError and fault.partial is None and fault.completion is None
    headers = dict(fault.headers)
    assert fault.status >= 400 and headers["content-type"] == "application/json"
    extra = [(name, value) for name, value in fault.headers if name != "content-type"]
    transport = ReplayTransport(b"", fault=Status(fault.status, fault.body, headers=extra))
    with (
        httpx.Client(transport=transport) as client,
        pytest.raises(chunkwise.HTTPStatusError) as caught,
        stream_chat(client, URL, json={"stream": True}),
    ):
        pytest.fail("entered the block despite an error status")
    error = caught.value
    assert error.status_code == fault.status and error.body == fault.error_body and error.partial is None
    assert error.retry_after == (float(headers["retry-after"]) if "retry-after" in headers else None)


class Drawn(Exception):
    """The value searched for was drawn."""


@pytest.mark.parametrize(("kind", "error", "require_done"), VERDICTS)
def test_every_fault_and_verdict_is_drawn(kind: str, error: Any, require_done: bool) -> None:
    """Each fault, with each verdict the contract gives it, is among the first values drawn."""

    @SEARCH
    @given(cs.faulty_streams(faults=[kind], require_done=require_done))
    def search(fault: cs.FaultyStream) -> None:
        if fault.kind == kind and fault.error is error and fault.require_done is require_done:
            raise Drawn

    with pytest.raises(Drawn):
        search()


@settings(max_examples=15, deadline=None)
@given(cs.faulty_streams(faults=("invalid_utf8", "error_event"), style="gemini", max_choices=1))
def test_the_options_restrict_what_is_drawn(fault: cs.FaultyStream) -> None:
    """`faults` and `max_choices` bound the drawn values (with a style given too)."""
    assert fault.kind in ("invalid_utf8", "error_event")
    assert fault.completion is not None and len(fault.completion["choices"]) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"style": "anthropic"},
        {"faults": "truncated"},  # a string is not a collection of names
        {"faults": []},
        {"faults": ["truncated", "stalled"]},
        {"faults": [3]},
        {"faults": 3},
        {"max_choices": 0},
        {"max_tool_calls": -1},
        {"require_done": "yes"},
    ],
)
def test_bad_options_raise_invalid_argument_when_the_strategy_is_built(options: dict[str, Any]) -> None:
    """Options are checked at once, with hypothesis's InvalidArgument, before anything is drawn."""
    with pytest.raises(InvalidArgument):
        cs.faulty_streams(**options)


def _one_call(call: dict[str, Any]) -> dict[str, Any]:
    message = {"role": "assistant", "tool_calls": [call]}
    choice = {"index": 0, "finish_reason": "tool_calls", "message": message}
    return {"id": "x", "created": 1, "model": "m", "choices": [choice]}


@pytest.mark.parametrize(
    "build",
    [
        lambda: cs.chunks_from("x"),  # type: ignore[arg-type]
        lambda: cs.chunks_from({}),
        lambda: cs.chunks_from({"choices": [{"index": 0}]}),
        lambda: cs.completions(thinking="yes"),  # type: ignore[arg-type]
        lambda: cs.sse_bytes([], done="no"),  # type: ignore[arg-type]
        lambda: cs.sse_bytes([1]),  # type: ignore[list-item]
        lambda: cs.chunks_from({"id": "x", "created": 1, "model": "m", "choices": [{"message": {}}]}),
        lambda: cs.chunks_from(
            {
                "id": "x",
                "created": 1,
                "model": "m",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"tool_calls": [{"type": "function"}]}}
                ],
            }
        ),
        lambda: cs.chunks_from(_one_call({"id": "1", "type": "function", "function": {"arguments": "{}"}})),
        lambda: cs.chunks_from(_one_call({"id": "1", "type": "retrieval"})),
        lambda: cs.chunks_from(
            {
                "id": "x",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "finish_reason": None, "message": {}}],
            }
        ),
    ],
    ids=[
        "completion-str",
        "no-choices",
        "choice-without-message",
        "thinking-str",
        "done-str",
        "chunk-not-a-mapping",
        "choice-without-index",
        "call-without-id",
        "call-without-name",
        "call-of-another-type",
        "unfinished-choice",
    ],
)
def test_the_other_strategies_check_their_arguments_when_built(build: Any) -> None:
    """A completion that is not one, or a flag that is not a bool, is InvalidArgument at once; it was a
    TypeError or KeyError at draw time, or accepted (hostile review)."""
    with pytest.raises(InvalidArgument):
        build()


def test_sse_bytes_takes_an_iterator_whole() -> None:
    """Its argument check used up an iterator: `sse_bytes(iter(chunks))` was a body without chunks (review)."""
    chunks = [{"id": "x", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}]
    assert cs.sse_bytes(iter(chunks)) == cs.sse_bytes(chunks) == cs.sse_bytes(c for c in chunks)
    assert b'"hi"' in cs.sse_bytes(iter(chunks))


@pytest.mark.parametrize("style", cs.STYLES)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_the_reference_reducer_gives_back_every_healthy_completion(style: str, data: st.DataObject) -> None:
    """The oracle behind every partial (it never calls the assembler) gives back the completion a
    healthy stream was cut from, so the partials are the contract's and not chunkwise's."""
    completion, chunks = data.draw(cs.completion_streams(style=style))
    assert _reduce(chunks).dump() == completion


# ---------------------------------------------------------------- a user's own client


class Disagreement(AssertionError):
    """A client's conclusion differs from the drawn verdict."""


def _expected(fault: cs.FaultyStream) -> tuple[str, bool]:
    """The verdict, as far as these clients keep it: choice 0's answer text, and whether it failed."""
    assert fault.partial is not None
    first = [c for c in fault.partial["choices"] if c["index"] == 0]
    return (first[0]["message"].get("content") or "" if first else ""), fault.error is not None


def naive_client(body: bytes, require_done: bool) -> tuple[str, bool]:
    """Concatenates choice 0's `delta.content` from every `data:` line it can read; never fails."""
    text = ""
    for line in body.decode("utf-8", "replace").splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        try:
            chunk = json.loads(line[len("data: ") :])
        except ValueError:
            continue
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) == 0:
                text += (choice.get("delta") or {}).get("content") or ""
    return text, False


def chunkwise_client(body: bytes, require_done: bool) -> tuple[str, bool]:
    """A client built on chunkwise: the answer text, from the partial when the stream failed."""
    try:
        completion, failed = chunkwise.assemble(body, require_done=require_done), False
    except chunkwise.ChunkwiseError as exc:
        completion, failed = exc.partial or chunkwise.ChatCompletion(), True
    first = [c for c in completion.choices if c.index == 0]
    return (first[0].message.content or "" if first else ""), failed


def _check_client(client: Any) -> None:
    """A user's test: the client's conclusion must be the drawn verdict."""

    @settings(SEARCH, max_examples=60, report_multiple_bugs=False)
    @given(any_stream_fault)
    def test_my_client(fault: cs.FaultyStream) -> None:
        concluded = client(fault.body, fault.require_done)
        if concluded != _expected(fault):
            raise Disagreement(f"{fault.kind}: {concluded!r} != {_expected(fault)!r}")

    test_my_client()


def test_a_naive_client_is_caught() -> None:
    """A client that concatenates content and ignores errors fails the user's test."""
    with pytest.raises(Disagreement):
        _check_client(naive_client)


def test_a_correct_client_passes_the_same_test() -> None:
    """The same test passes for a client built on chunkwise: it is the naive client that fails."""
    _check_client(chunkwise_client)


def test_the_docs_example_passes_for_a_client_built_on_chunkwise() -> None:
    """docs/strategies.md's example runs as shown, and passes for a client built on chunkwise."""
    docs = (ROOT / "docs" / "strategies.md").read_text()
    (example,) = [
        b for b in re.findall(r"```python\n(.*?)```", docs, flags=re.S) if "def test_my_client" in b
    ]

    def my_client(body: bytes) -> tuple[dict[str, Any], bool]:
        try:
            return _dump(chunkwise.assemble(body)), False
        except chunkwise.ChunkwiseError as exc:
            return _dump(exc.partial), True

    namespace: dict[str, Any] = {"my_client": my_client}
    exec(example, namespace)
    settings(max_examples=30)(namespace["test_my_client_on_faulty_streams"])()


def test_a_refused_repeat_merges_nothing_not_even_a_signature_fragment() -> None:
    """A repeated finishing chunk is refused whole (§11.2), so its trailing signature fragment must
    not sign the call before it: the partial is the answer as it was before the repeat."""
    sig = {"google": {"thought_signature": "c2ln"}}
    first = {
        "id": "r",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "call_a", "type": "function", "function": {"name": "a", "arguments": "{}"}}
                    ],
                },
            }
        ],
    }
    last = {
        "id": "r",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "delta": {
                    "tool_calls": [
                        {"extra_content": sig},
                        {"id": "call_b", "type": "function", "function": {"name": "b", "arguments": "{}"}},
                    ]
                },
            }
        ],
    }
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in (first, last, last))
    with pytest.raises(chunkwise.MalformedChunkError) as caught:
        chunkwise.assemble(body)
    assert caught.value.partial is not None
    calls = caught.value.partial.choices[0].message.tool_calls or []
    assert [c.extra_content for c in calls] == [sig, None]
