"""Non-streaming answers: a whole ``chat.completion`` read by the stream's own rules.

Contract: ``parse_completion`` takes one ``chat.completion`` (a dict, JSON text or UTF-8 bytes) and
returns the ``ChatCompletion`` that assembling the stream of the same answer gives, or raises a
``ChunkwiseError``; nothing else leaves it. It does not re-implement a single rule: the body is cut
into the chunks a stream of it would be (``completion_chunks``: one per choice, whose ``delta`` is
the message) and those go through ``StreamAssembler``. So thinking is split out of ``content`` by
``thought_tag`` and by Gemini's ``extra_content.google.thought`` flag, every ``extra_content`` and
signature stays where it came, usage is kept whole, unknown fields are kept as extras, and the
limits and the late-data rules are the stream's (docs/behaviour.md §1-§11).

Two facts differ from a stream because the body is whole. ``done_received`` is True: nothing of
the answer can still be on its way. And a choice without ``finish_reason`` is still unfinished:
``IncompleteStreamError``, as for a stream, since a whole answer always names why each choice
ended (OpenAI, Vertex and the Gemini API all do).

``chunkwise.http`` reads a server's JSON answer to a stream request with ``completion_chunks``
too, so both paths give the same result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._assembler import StreamAssembler
from ._errors import ChunkwiseError, MalformedChunkError
from ._models import ChatCompletion
from ._payloads import Malformed, describe_input, is_error_body, loads, raised_by_caller, utf8_text

__all__ = ["checked_chunks", "completion_chunks", "parse_completion"]


def completion_chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole ``chat.completion`` as the chunks a stream of it would be: one per choice, whose
    delta is the message (each tool call given its ``index``), usage on the last.

    Every other field (the envelope, ``system_fingerprint``, Azure's filter results, the message's
    ``reasoning_content``) rides along unchanged, so the assembler applies its usual rules to them.
    ``completion["choices"]`` must be a list; nothing here raises or changes the input.
    """
    envelope = {k: v for k, v in completion.items() if k not in ("choices", "usage")}
    envelope["object"] = "chat.completion.chunk"
    chunks = []
    for position, choice in enumerate(completion["choices"]):
        entry = dict(choice) if type(choice) is dict else choice
        if type(entry) is dict:
            # A whole body lists its choices in order: without an `index`, the position is the one
            # a stream would have sent (else every choice would read as choice 0, finished twice).
            entry.setdefault("index", position)
            message = entry.pop("message", None)
            delta = dict(message) if type(message) is dict else message
            if type(delta) is dict and type(delta.get("tool_calls")) is list:
                # A whole message lists its calls in order: the position is the `index` a stream
                # would have sent, so calls without an id stay apart (§5.1).
                delta["tool_calls"] = [
                    {**call, "index": i} if type(call) is dict else call
                    for i, call in enumerate(delta["tool_calls"])
                ]
            entry["delta"] = delta
        chunks.append({**envelope, "choices": [entry]})
    usage = completion.get("usage")
    if usage is not None:
        if chunks:
            chunks[-1]["usage"] = usage
        else:
            chunks.append({**envelope, "choices": [], "usage": usage})
    return chunks or [{**envelope, "choices": []}]


def parse_completion(
    body: Mapping[str, Any] | str | bytes | bytearray | memoryview,
    *,
    thought_tag: str | None = None,
    thought_open: bool = False,
) -> ChatCompletion:
    """A non-streaming ``chat.completion`` (a mapping, JSON text or UTF-8 bytes) as a ``ChatCompletion``,
    by the same rules as a stream of it.

    ``thought_tag`` and ``thought_open`` are ``StreamAssembler``'s (a bad one raises ``ValueError``,
    the caller's fault).
    Raises ``ServerError`` when the body is an error body (``{"error": ...}``, Gemini's
    ``[{"error": ...}]``), ``MalformedChunkError`` when it is not JSON, not a ``chat.completion``
    (no ``choices`` list, a choice that is not an object or carries a ``delta``, a message that is
    not an object) or breaks a rule or limit of the stream, and ``IncompleteStreamError`` when a
    choice has no ``finish_reason`` or there is no choice at all. Each error carries ``partial``.
    """
    assembler = StreamAssembler(thought_tag=thought_tag, thought_open=thought_open, emit_events=False)
    try:
        value = _read(body)
    except Malformed as exc:
        raise _malformed(exc, body, assembler) from None
    try:
        if is_error_body(value):
            # Fed as it came, the assembler raises its own ServerError, with its event and the
            # partial (Gemini's list shape is an error only as a payload: it goes in as its text).
            chunks: list[Any] = [value if type(value) is dict else json.dumps(value)]
        else:
            chunks = checked_chunks(value)
    except Malformed as exc:
        raise _malformed(exc, body, assembler) from None
    except Exception as exc:  # a caller's object inside the mapping raised while it was read
        raise _malformed(raised_by_caller(exc), body, assembler) from None
    for item in chunks:
        assembler.feed(item)
    assembler.feed("[DONE]")  # a whole body is complete: nothing of it is still on its way
    assembler.close()
    return assembler.completion


def _read(body: Any) -> Any:
    """The body as a JSON value; ``Malformed`` for anything that is not JSON text or a mapping."""
    if type(body) is dict:
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return loads(utf8_text(body, "body"))
    if isinstance(body, str):
        return loads(body)
    if isinstance(body, Mapping):
        try:
            return dict(body)
        except Exception as exc:  # a caller's mapping that cannot be read: input that cannot be read
            raise raised_by_caller(exc) from None
    raise Malformed(f"cannot read a chat.completion from a {type(body).__name__}")


def checked_chunks(value: Any) -> list[dict[str, Any]]:
    """Check the shape ``completion_chunks`` relies on, then convert; ``Malformed`` otherwise.
    ``parse_completion`` and ``chunkwise.http``'s JSON answers both read a whole answer this way."""
    if type(value) is not dict:
        raise Malformed(f"the body is JSON but not an object: {type(value).__name__}")
    choices = value.get("choices")
    if type(choices) is not list:
        raise Malformed("the body is not a chat.completion: `choices` must be a list")
    for position, choice in enumerate(choices):
        if type(choice) is not dict:
            raise Malformed(f"`choices[{position}]` must be an object")
        if "delta" in choice:
            # A chunk's choice: `completion_chunks` would replace its delta with the message and
            # lose it, so a chunk given as a whole answer is refused rather than half read.
            raise Malformed(f"`choices[{position}]` has a `delta`: this is a chunk, not a chat.completion")
        message = choice.get("message")
        if message is not None and type(message) is not dict:
            raise Malformed(f"`choices[{position}].message` must be an object")
        calls = message.get("tool_calls") if message is not None else None
        if type(calls) is list:
            _distinct_ids(calls, position)
    return completion_chunks(value)


def _distinct_ids(calls: list[Any], position: int) -> None:
    """Two calls of one whole message with the same id would be merged into one by §5.1 (a stream
    sends the id to say "this fragment continues that call"), gluing their arguments: refused."""
    seen: set[str] = set()
    for call in calls:
        call_id = call.get("id") if type(call) is dict else None
        if type(call_id) is str and call_id:
            if call_id in seen:
                raise Malformed(f"`choices[{position}].message.tool_calls` has two calls with id {call_id!r}")
            seen.add(call_id)


def _malformed(exc: Malformed, body: Any, assembler: StreamAssembler) -> ChunkwiseError:
    return MalformedChunkError(
        f"malformed chat.completion: {exc}",
        position=1,
        raw=describe_input(body),
        offset=exc.offset,
        partial=assembler.snapshot,
    )
