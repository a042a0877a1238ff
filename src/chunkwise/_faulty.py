"""``faulty_streams``: streams that go wrong the ways real servers' do, each with its verdict.

Theory of operation
-------------------
A faulty stream is built the same way round as a healthy one (``strategies``): first a finished
completion and its chunks in a server's style, then one fault applied to the bytes. Because the
fault is put in on purpose, the strategy knows what a correct client must conclude from it: the
error (a chunkwise exception class, or none), and the partial completion, which is what the chunks
received whole before the fault add up to. That partial is computed here, by a small reference
reducer (``_Reference``) that applies the contract (docs/behaviour.md) to the shapes ``chunks_from``
draws; it never calls the assembler, so chunkwise is tested against it and not against itself.

Two choices keep the verdict well defined, each documented in docs/strategies.md:

* Text is drawn without ``<``. The Gemini API's flagged thoughts open with ``<thought>`` and the
  answer with ``</thought>``; a client must hold back a tail such as ``"</tho"`` until the next
  chunk says whether it is a tag, so at a fault the tail is undecided. Without ``<`` nothing is
  ever held, and every client can agree on the partial.
* A chunk that opens or closes that flagged block is never the duplicated one: what a repeated
  ``<thought>`` means is not settled (chunkwise keeps it as text).

The nine faults and their verdicts are the table in docs/strategies.md; each builder below says
why its verdict is what the contract (docs/behaviour.md §1, §9, §11) makes it.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ._errors import (
    ChunkwiseError,
    HTTPStatusError,
    IncompleteStreamError,
    MalformedChunkError,
    ServerError,
)

__all__ = ["FAULTS", "FaultyStream", "faulty_streams"]

#: Every fault ``faulty_streams`` can draw, in the order examples shrink towards.
FAULTS = (
    "truncated",
    "done_missing",
    "duplicated_chunk",
    "error_chunk",
    "error_event",
    "raw_error_line",
    "malformed_json",
    "invalid_utf8",
    "error_status",
)

_SSE_HEADERS = (("content-type", "text/event-stream"),)
_JSON_HEADERS = (("content-type", "application/json"),)
_DONE = b"data: [DONE]\n\n"
_THOUGHT_OPEN, _THOUGHT_CLOSE = "<thought>", "</thought>"


@dataclass(frozen=True, slots=True)
class FaultyStream:
    """One faulty answer from a server, and what a correct client concludes from it."""

    #: Which fault this is: one of ``FAULTS``.
    kind: str
    #: The response body exactly as the server sent it: SSE bytes for every fault but
    #: ``"error_status"``, whose body is the JSON error document sent with ``status``.
    body: bytes
    #: The HTTP status: 200 for every fault but ``"error_status"`` (4xx or 5xx).
    status: int
    #: The response headers, lower-case names: ``content-type`` (``text/event-stream`` for a stream,
    #: ``application/json`` for an error status), and sometimes ``retry-after`` (in seconds).
    headers: tuple[tuple[str, str], ...]
    #: The error a correct client raises: ``IncompleteStreamError``, ``ServerError``,
    #: ``MalformedChunkError`` or ``HTTPStatusError``; None when the stream must be accepted as
    #: complete (a missing ``[DONE]``, most duplicated chunks, a cut that leaves a stream that
    #: reads as finished).
    error: type[ChunkwiseError] | None
    #: What the server said the error was, as a ``ServerError``'s ``.body`` holds it: the parsed
    #: JSON (for an in-band error chunk, the whole chunk), or the text of an ``event: error``
    #: frame that is not JSON. None when ``error`` is not a ``ServerError``.
    error_body: Any
    #: What a correct client recovers, as a JSON-ready ``chat.completion`` in the form
    #: ``completions()`` draws (``model_dump(exclude_none=True)``): the chunks received whole before
    #: the fault, merged by the contract; the whole answer when ``error`` is None (with the repeated
    #: text of a duplicated chunk in it). None for ``"error_status"``: nothing was streamed.
    partial: dict[str, Any] | None
    #: The completion the server meant to send (the healthy stream's oracle); None for ``"error_status"``.
    completion: dict[str, Any] | None
    #: Whether the verdict assumed a client that requires ``data: [DONE]`` (the option given).
    require_done: bool


# ---------------------------------------------------------------- the reference reducer


def _merge(held: dict[str, Any], new: Mapping[str, Any]) -> None:
    """The merge rule (§6.1): mappings key by key, ``None``/``""`` never erase, else the last wins."""
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(held.get(key), dict):
            _merge(held[key], value)
        elif isinstance(value, Mapping):
            held[key] = {}
            _merge(held[key], value)
        elif value is None or value == "":
            held.setdefault(key, value)
        else:
            held[key] = value


def _thought_flag(extra: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    """The Gemini ``thought`` flag of a delta, and its ``extra_content`` without it (§4.5: the flag
    describes the chunk, not the message, and is not kept)."""
    google = extra.get("google")
    if not isinstance(google, Mapping) or "thought" not in google:
        return False, dict(extra)
    rest = {k: v for k, v in google.items() if k != "thought"}
    out = {k: v for k, v in extra.items() if k != "google"}
    if rest:
        out["google"] = rest
    return google["thought"] is True, out


class _Choice:
    """One choice, merged by the contract's rules for the fields ``chunks_from`` sends."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.message: dict[str, Any] = {}
        self.content: str | None = None
        self.reasoning: str | None = None
        self.refusal: str | None = None
        self.annotations: list[Any] | None = None
        self.tokens: list[Any] | None = None
        self.calls: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_index: dict[int, dict[str, Any]] = {}
        self.function_call: dict[str, Any] | None = None
        self.extra: dict[str, Any] | None = None
        self.finish: str | None = None
        self.in_thought = False  # inside Gemini's flagged `<thought>` block

    def late(self, item: Mapping[str, Any]) -> bool:
        """Whether an entry for this finished choice brings more of the answer (§11.2): then the
        whole chunk is refused. Metadata (a repeated role or finish, ``extra_content``, usage,
        annotations, empty content, a call's own fields) still merges (§11.1)."""
        if self.finish is None:
            return False
        logprobs = item.get("logprobs")
        if isinstance(logprobs, Mapping) and (logprobs.get("content") or logprobs.get("refusal")):
            return True
        delta = item.get("delta") or {}
        if any(delta.get(key) for key in ("content", "reasoning_content", "refusal", "function_call")):
            return True
        # Every call a repeated chunk names already exists: only new arguments make it late (on an
        # entry that restates the finish too, §11.3: arguments for an existing call still fail).
        for fragment in delta.get("tool_calls") or ():
            body = fragment.get("function") or fragment.get("custom") or {}
            if body.get("arguments") or body.get("input"):
                return True
        return False

    def apply(self, item: Mapping[str, Any]) -> None:
        delta = item.get("delta") or {}
        thought = False
        if delta.get("extra_content") is not None:
            thought, extra = _thought_flag(delta["extra_content"])
            if extra:
                self.extra = self.extra if self.extra is not None else {}
                _merge(self.extra, extra)
        if delta.get("role") and "role" not in self.message:
            self.message["role"] = delta["role"]  # §3.7: set once
        if isinstance(delta.get("content"), str):
            self._content(delta["content"], thought)
        if delta.get("reasoning_content"):
            self.reasoning = (self.reasoning or "") + delta["reasoning_content"]
        if delta.get("refusal"):
            self.refusal = (self.refusal or "") + delta["refusal"]  # §3.3: null or "" adds nothing
        if delta.get("annotations"):
            self.annotations = [*(self.annotations or []), *delta["annotations"]]  # §10.3
        for fragment in delta.get("tool_calls") or ():
            self._fragment(fragment)
        if delta.get("function_call"):
            self._function_call(delta["function_call"])
        logprobs = item.get("logprobs")
        if isinstance(logprobs, Mapping) and logprobs.get("content"):
            self.tokens = [*(self.tokens or []), *logprobs["content"]]  # §3.4
        if item.get("finish_reason") and self.finish is None:
            self.finish = item["finish_reason"]  # §8.3: set once

    def _content(self, text: str, thought: bool) -> None:
        """§3.1 and §4.5: any content delta gives the message content (``""`` at least); Gemini's
        flagged chunks are thinking, ``<thought>`` opening the first and ``</thought>`` the first
        unflagged one, the tags in neither text."""
        self.content = self.content or ""
        if thought:
            if not self.in_thought and text.startswith(_THOUGHT_OPEN):
                text = text[len(_THOUGHT_OPEN) :]
            self.in_thought = True
            if text:
                self.reasoning = (self.reasoning or "") + text
            return
        if self.in_thought:
            self.in_thought = False
            if text.startswith(_THOUGHT_CLOSE):
                text = text[len(_THOUGHT_CLOSE) :]
        self.content += text

    def _fragment(self, fragment: Mapping[str, Any]) -> None:
        """§5.1: a call by its id, else the call last seen at its index, else the most recent one;
        §5.6-5.7: arguments appended, id, type and name set once; §5.9 ``extra_content`` merged."""
        call_id, index = fragment.get("id"), fragment.get("index")
        if call_id:
            call = self.by_id.get(call_id)
        elif isinstance(index, int):
            call = self.by_index.get(index)
        else:
            call = self.calls[-1] if self.calls else None
        if call is None:
            call = {}
            self.calls.append(call)
        if call_id:
            self.by_id.setdefault(call_id, call)
            call.setdefault("id", call_id)
        if isinstance(index, int):
            self.by_index[index] = call
        kind = fragment.get("type") or ("custom" if "custom" in fragment else None)
        if kind and "type" not in call:
            call["type"] = kind
        for key, text_key in (("function", "arguments"), ("custom", "input")):
            body = fragment.get(key)
            if isinstance(body, Mapping):
                held = call.setdefault(key, {})
                if body.get("name") and "name" not in held:
                    held["name"] = body["name"]
                held[text_key] = held.get(text_key, "") + (body.get(text_key) or "")
        if isinstance(fragment.get("extra_content"), Mapping):
            _merge(call.setdefault("extra_content", {}), fragment["extra_content"])

    def _function_call(self, piece: Mapping[str, Any]) -> None:
        """§10.1: the name set once, the arguments appended."""
        held = self.function_call = self.function_call if self.function_call is not None else {}
        if piece.get("name") and "name" not in held:
            held["name"] = piece["name"]
        held["arguments"] = held.get("arguments", "") + (piece.get("arguments") or "")

    def dump(self) -> dict[str, Any]:
        message = dict(self.message)
        for key, value in (
            ("content", self.content),
            ("reasoning_content", self.reasoning),
            ("refusal", self.refusal),
            ("annotations", self.annotations),
            ("function_call", self.function_call),
            ("extra_content", self.extra),
        ):
            if value is not None:
                message[key] = value
        if self.calls:
            message["tool_calls"] = [{"type": "function", **call} for call in self.calls]
        out: dict[str, Any] = {"index": self.index, "message": message}
        if self.finish is not None:
            out["finish_reason"] = self.finish
        if self.tokens is not None:
            out["logprobs"] = {"content": self.tokens}
        return out


class _Reference:
    """The contract applied to a list of chunks, one at a time (the oracle for partials)."""

    def __init__(self) -> None:
        self.envelope: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None
        self.choices: dict[int, _Choice] = {}

    def late(self, chunk: Mapping[str, Any]) -> bool:
        """Whether ``chunk`` would be refused whole as late content for a finished choice."""
        items = chunk.get("choices") or ()
        return any(
            item.get("index", 0) in self.choices and self.choices[item.get("index", 0)].late(item)
            for item in items
        )

    def apply(self, chunk: Mapping[str, Any]) -> None:
        for key in ("id", "created", "model", "system_fingerprint"):
            # §2.1: the first non-empty value wins (a first empty one is kept until then).
            value = chunk.get(key)
            if value is not None and (key not in self.envelope or not self.envelope[key]):
                self.envelope[key] = value
        for item in chunk.get("choices") or ():
            index = item.get("index", 0)
            self.choices.setdefault(index, _Choice(index)).apply(item)
        if chunk.get("usage") is not None:
            self.usage = chunk["usage"]  # §8.1: the last usage is the usage

    @property
    def complete(self) -> bool:
        """§9.1: at least one choice, and every choice that appeared has finished."""
        return bool(self.choices) and all(c.finish is not None for c in self.choices.values())

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.envelope, "object": "chat.completion"}
        out["choices"] = [self.choices[i].dump() for i in sorted(self.choices)]
        if self.usage is not None:
            out["usage"] = self.usage
        copied: dict[str, Any] = json.loads(json.dumps(out))  # detached, as a client's own result is
        return copied


def _reduce(chunks: Iterable[Mapping[str, Any]]) -> _Reference:
    reference = _Reference()
    for chunk in chunks:
        reference.apply(chunk)
    return reference


# ---------------------------------------------------------------- the faults


def _event(chunk: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode("utf-8") + b"\n\n"


Stream = tuple[dict[str, Any], list[dict[str, Any]]]
Builder = Callable[[st.DrawFn, Stream, bool], FaultyStream]


def _stream_fault(
    kind: str,
    body: bytes,
    error: type[ChunkwiseError] | None,
    partial: dict[str, Any],
    completion: dict[str, Any],
    require_done: bool,
    error_body: Any = None,
) -> FaultyStream:
    return FaultyStream(
        kind=kind,
        body=body,
        status=200,
        headers=_SSE_HEADERS,
        error=error,
        error_body=error_body,
        partial=partial,
        completion=completion,
        require_done=require_done,
    )


def _verdict(reference: _Reference, require_done: bool) -> type[ChunkwiseError] | None:
    """How a stream that simply ended (no ``[DONE]``) after these chunks is judged (§9.1-9.2)."""
    return None if reference.complete and not require_done else IncompleteStreamError


def _truncated(draw: st.DrawFn, stream: Stream, require_done: bool) -> FaultyStream:
    """The connection closes after any byte before the last chunk is whole.

    Chunks whose JSON arrived whole count, even without their line end (§1.3: an event pending at
    the end of input is dispatched). An unterminated last line that cannot be read as it is, a cut
    inside a payload (``data: {"cho``) or inside a field name (``da``), is a stream cut off:
    ``IncompleteStreamError`` (§9.2), whatever came before; a cut at a line end, or in ``data: ``
    before the payload begins (an empty payload, §1.4), is judged as a stream that ended there."""
    completion, chunks = stream
    events = [_event(c) for c in chunks]
    body = b"".join(events)
    # At least the last chunk is lost: the cut comes before its closing brace. Connections often
    # close between events (a server that stops writing): those cuts are drawn as often as a cut at
    # any byte, and the last one (before a trailing usage chunk, say) as often again, since a
    # stream that loses only its last chunk may read as finished.
    points = [0, *itertools.accumulate(len(e) for e in events[:-1])]
    cut = draw(st.sampled_from(points) | st.just(points[-1]) | st.integers(0, len(body) - 4), label="cut")
    kept, ends, received = body[:cut], 0, 0
    for event in events:
        ends += len(event)
        if ends - 2 <= cut:
            received += 1
    reference = _reduce(chunks[:received])
    tail = kept.rsplit(b"\n", 1)[-1]
    whole_line = received and tail == events[received - 1][:-2]
    if tail in (b"", b"data", b"data:", b"data: ") or whole_line:
        error = _verdict(reference, require_done)
    else:
        error = IncompleteStreamError
    return _stream_fault("truncated", kept, error, reference.dump(), completion, require_done)


def _done_missing(draw: st.DrawFn, stream: Stream, require_done: bool) -> FaultyStream:
    """Every chunk, no ``data: [DONE]``. Complete by default (§9.1: many servers never send it);
    ``IncompleteStreamError`` for a client that requires it, with the whole answer as partial."""
    completion, chunks = stream
    body = b"".join(_event(c) for c in chunks)
    error = IncompleteStreamError if require_done else None
    return _stream_fault("done_missing", body, error, copy.deepcopy(completion), completion, require_done)


def _starts_flagged_block(chunk: Mapping[str, Any]) -> bool:
    return any(
        isinstance(content := (item.get("delta") or {}).get("content"), str)
        and content.startswith((_THOUGHT_OPEN, _THOUGHT_CLOSE))
        for item in chunk.get("choices") or ()
    )


def _duplicated_chunk(draw: st.DrawFn, stream: Stream, require_done: bool) -> FaultyStream:
    """One chunk sent twice in a row (a retrying proxy, a replayed buffer).

    Nothing in a chunk tells a repeat from new text (two identical chunks ``"ha"``, ``"ha"`` are
    legitimate), so the repeat is merged by the ordinary rules: its text, arguments, annotations
    and tokens twice, its metadata (role, ids, names, ``extra_content``, usage) once. The stream
    completes with that text. When the repeated chunk finished its choice and brings text, tokens
    or arguments, the repeat is late content (§11.2): ``MalformedChunkError``, the partial the
    answer up to and including the first copy."""
    completion, chunks = stream
    candidates = [i for i, c in enumerate(chunks) if not _starts_flagged_block(c)]
    # A chunk that finishes its choice is the one whose repeat can be late: drawn as often as any.
    finishing = [i for i in candidates if any(item.get("finish_reason") for item in chunks[i]["choices"])]
    at = draw(st.sampled_from(candidates) | st.sampled_from(finishing or candidates), label="duplicated")
    sent = [*chunks[: at + 1], chunks[at], *chunks[at + 1 :]]
    body = b"".join(_event(c) for c in sent) + _DONE
    reference = _reduce(chunks[: at + 1])
    if reference.late(chunks[at]):
        return _stream_fault(
            "duplicated_chunk", body, MalformedChunkError, reference.dump(), completion, require_done
        )
    for chunk in sent[at + 1 :]:
        reference.apply(chunk)
    # [DONE] came: the verdict does not depend on require_done.
    error = None if reference.complete else IncompleteStreamError
    return _stream_fault("duplicated_chunk", body, error, reference.dump(), completion, require_done)


# Error bodies as servers send them inside a stream.
_ERROR_OBJECTS = (
    # OpenAI
    {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
    },
    # OpenRouter, on a chunk of its own or beside usage
    {"code": 502, "message": "Provider returned error", "metadata": {"provider_name": "Google"}},
    # Groq
    {"message": "Failed to call a function.", "type": "invalid_request_error", "code": "tool_use_failed"},
)
# What an `event: error` frame carries: JSON (Groq), text, or nothing.
_EVENT_DATA: tuple[Any, ...] = (*({"error": e} for e in _ERROR_OBJECTS), "Internal server error", "")
# Gemini / Vertex error bodies: a JSON array of {"error": {code, message, status}}.
_GOOGLE_ERRORS = (
    [{"error": {"code": 499, "message": "The operation was cancelled.", "status": "CANCELLED"}}],
    [{"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}],
    [{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}],
)


def _after(draw: st.DrawFn, chunks: Sequence[Any]) -> int:
    """How many chunks arrive whole before the fault (0 to all of them)."""
    return draw(st.integers(0, len(chunks)), label="after")


def _error_chunk(draw: st.DrawFn, stream: Stream, require_done: bool) -> FaultyStream:
    """``data: {"error": {...}}`` after some chunks (OpenRouter, OpenAI), sometimes on a chunk with
    the envelope and usage: ``ServerError`` whose body is the whole chunk (§9.3); the chunk's usage
    is merged before it raises (§1.6b), so the partial holds it."""
    completion, chunks = stream
    after = _after(draw, chunks)
    error_chunk: dict[str, Any] = {
        "error": copy.deepcopy(draw(st.sampled_from(_ERROR_OBJECTS), label="error"))
    }
    if draw(st.booleans(), label="with_usage"):
        envelope = {k: completion[k] for k in ("id", "created", "model")}
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        error_chunk = {
            **envelope,
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": usage,
            **error_chunk,
        }
    sent = [*chunks[:after], error_chunk]
    body = b"".join(_event(c) for c in sent) + (_DONE if draw(st.booleans(), label="then_done") else b"")
    reference = _reduce(sent)
    return _stream_fault(
        "error_chunk", body, ServerError, reference.dump(), completion, require_done, error_chunk
    )


def _error_event(draw: st.DrawFn, stream: Stream, require_done: bool) -> FaultyStream:
    """An ``event: error`` frame after some chunks (Groq): ``ServerError`` whatever its data
    (§1.6a), its body the data as JSON, or as text, ``""`` when there is none."""
    completion, chunks = stream
    after = _after(draw, chunks)
    error_body: Any = copy.deepcopy(draw(st.sampled_from(_EVENT_DATA), label="data"))
    if error_body == "" and draw(st.booleans(), label="no_data_line"):
        frame = b"event: error\n\n"
    else:
        data = error_body if isinstance(error_body, str) else json.dumps(error_body)
        frame = b"event: error\ndata: " + data.encode("utf-8") + b"\n\n"
    body = b"".join(_event(c) for c in chunks[:after]) + frame
    reference = _reduce(chunks[:after])
    return _stream_fault(
        "error_event", body, ServerError, reference.dump(), completion, require_done, error_body
    )


def _raw_error_line(draw: st.DrawFn, stream: Stream, require_done: bool) -> FaultyStream:
    """Vertex's raw JSON error body outside SSE framing, on one line or pretty-printed over
    several, after some chunks; then the stream ends. §1.7: never dropped, a ``ServerError``."""
    completion, chunks = stream
    after = _after(draw, chunks)
    error_body = copy.deepcopy(draw(st.sampled_from(_GOOGLE_ERRORS), label="error"))
    text = json.dumps(error_body, indent=2 if draw(st.booleans(), label="pretty") else None)
    line = text.encode("utf-8") + (b"\n" if draw(st.booleans(), label="line_end") else b"")
    body = b"".join(_event(c) for c in chunks[:after]) + line
    reference = _reduce(chunks[:after])
    return _stream_fault(
        "raw_error_line", body, ServerError, reference.dump(), completion, require_done, error_body
    )


def _malformed_json(draw: st.DrawFn, stream: Stream, require_done: bool) -> FaultyStream:
    """One chunk's ``data:`` payload garbled into invalid JSON (a proper prefix of it), the rest of
    the stream as sent: ``MalformedChunkError`` at that payload (§9.4), nothing after it merged."""
    completion, chunks = stream
    at = draw(st.integers(0, len(chunks) - 1), label="at")
    text = json.dumps(chunks[at], ensure_ascii=False)
    garbled = text[: draw(st.integers(1, len(text) - 1), label="length")]
    body = b"".join(
        [
            *map(_event, chunks[:at]),
            b"data: " + garbled.encode("utf-8") + b"\n\n",
            *map(_event, chunks[at + 1 :]),
        ]
    )
    reference = _reduce(chunks[:at])
    return _stream_fault(
        "malformed_json", body + _DONE, MalformedChunkError, reference.dump(), completion, require_done
    )


_INVALID_UTF8 = (b"\xff", b"\x80", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf0\x9f\x98")


def _invalid_utf8(draw: st.DrawFn, stream: Stream, require_done: bool) -> FaultyStream:
    """Bytes that are not UTF-8 somewhere in one chunk's ``data:`` line, the rest as sent:
    ``MalformedChunkError`` (§9.4); the chunks before that line are merged, nothing from it on."""
    completion, chunks = stream
    at = draw(st.integers(0, len(chunks) - 1), label="at")
    event = _event(chunks[at])
    where = draw(st.integers(0, len(event) - 2), label="where")
    bad = draw(st.sampled_from(_INVALID_UTF8), label="bytes")
    broken = event[:where] + bad + event[where:]
    body = b"".join([*map(_event, chunks[:at]), broken, *map(_event, chunks[at + 1 :])]) + _DONE
    reference = _reduce(chunks[:at])
    return _stream_fault(
        "invalid_utf8", body, MalformedChunkError, reference.dump(), completion, require_done
    )


_STATUSES = (400, 401, 403, 404, 429, 500, 503)
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@st.composite
def _error_status(draw: st.DrawFn, require_done: bool) -> FaultyStream:
    """An error status before any byte of a stream: ``HTTPStatusError`` with no partial (nothing
    was streamed). The body is Gemini's (a list of ``{"error": {code, message, status}}``) or
    OpenAI's (``{"error": {message, type, code}}``); a 429 or 503 may say ``retry-after``."""
    status = draw(st.sampled_from(_STATUSES), label="status")
    message = draw(st.sampled_from(("Resource has been exhausted.", "Request failed.", "")), label="message")
    error_body: Any
    if draw(st.booleans(), label="google"):
        error_body = [{"error": {"code": status, "message": message, "status": _GOOGLE_STATUS[status]}}]
    else:
        error_body = {"error": {"message": message, "type": "api_error", "code": str(status)}}
    headers: tuple[tuple[str, str], ...] = _JSON_HEADERS
    if status in (429, 503) and draw(st.booleans(), label="retry_after"):
        headers += (("retry-after", str(draw(st.integers(0, 120), label="seconds"))),)
    return FaultyStream(
        kind="error_status",
        body=json.dumps(error_body).encode("utf-8"),
        status=status,
        headers=headers,
        error=HTTPStatusError,
        error_body=error_body,
        partial=None,
        completion=None,
        require_done=require_done,
    )


_BUILDERS: dict[str, Builder] = {
    "truncated": _truncated,
    "done_missing": _done_missing,
    "duplicated_chunk": _duplicated_chunk,
    "error_chunk": _error_chunk,
    "error_event": _error_event,
    "raw_error_line": _raw_error_line,
    "malformed_json": _malformed_json,
    "invalid_utf8": _invalid_utf8,
}


def _check_faults(faults: Any) -> tuple[str, ...]:
    if faults is None:
        return FAULTS
    if isinstance(faults, (str, bytes)) or not isinstance(faults, Iterable):
        raise InvalidArgument(f"faults={faults!r} must be None or a collection of names from {FAULTS}")
    chosen = list(faults)
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown or not chosen:
        raise InvalidArgument(
            f"faults={faults!r} must name at least one fault, each one of {FAULTS}"
            + (f" (unknown: {unknown!r})" if unknown else "")
        )
    # In FAULTS order, so examples shrink the same way whatever order the caller named them in.
    return tuple(f for f in FAULTS if f in chosen)


def faulty_streams(
    *,
    style: str | None = None,
    faults: Iterable[str] | None = None,
    max_choices: int = 2,
    max_tool_calls: int = 3,
    require_done: bool = False,
) -> st.SearchStrategy[FaultyStream]:
    """Answers that go wrong the ways real servers' do, each a ``FaultyStream`` that carries the
    bytes (or the error status), the error a correct client raises and the partial completion it
    recovers up to the fault.

    ``style``: the server style of the stream (``STYLES``; any when None). ``faults``: the faults
    to draw from (names in ``FAULTS``; all when None). ``max_choices`` and ``max_tool_calls``
    bound the completion as in ``completions()``. ``require_done``: judge the stream as a client
    that requires ``data: [DONE]`` does (``StreamAssembler(require_done=True)``).

    Text in these completions never holds ``<``, so no text is held back as a possible
    ``</thought>`` at the fault (see docs/strategies.md)."""
    # `strategies` imports this module to re-export it: its helpers are imported here, once built.
    from .strategies import STYLES, _check_count, _streams

    if style is not None and style not in STYLES:
        raise InvalidArgument(f"style={style!r} must be one of {STYLES} or None")
    chosen = _check_faults(faults)
    _check_count("max_choices", max_choices, 1)
    _check_count("max_tool_calls", max_tool_calls, 0)
    if not isinstance(require_done, bool):
        raise InvalidArgument(f"require_done={require_done!r} must be a bool")
    streams = _streams(
        style=style, max_choices=max_choices, max_tool_calls=max_tool_calls, plain=True, finish_beside=True
    )
    status = _error_status(require_done)

    @st.composite
    def build(draw: st.DrawFn) -> FaultyStream:
        kind = draw(st.sampled_from(chosen), label="fault")
        if kind == "error_status":
            return draw(status)
        return _BUILDERS[kind](draw, draw(streams), require_done)

    return build()
