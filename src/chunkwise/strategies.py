"""Hypothesis strategies for fuzzing stream handling: ours, or yours.

Each example is generated the right way round: first a finished ``chat.completion`` (the oracle),
then that completion cut into a stream of chunks in the style of a real server, then the chunks
rendered as SSE bytes and the bytes cut at random points. Whatever consumes the stream must give
back the completion it started from; a failure shrinks to a small completion and few cuts.

    from hypothesis import given
    from chunkwise import strategies as cs

    @given(cs.completion_streams(style="vertex"), st.data())
    def test_my_client(pair, data):
        completion, chunks = pair
        pieces = data.draw(cs.byte_pieces(cs.sse_bytes(chunks)))
        assert my_client(pieces) == completion

Stream styles (``STYLES``), each from documented or recorded provider behaviour:

* ``"openai"``: a call's id, type and name on its first fragment only, ``index`` = its position.
* ``"vertex"``: id, name, type and role repeated on every fragment, the ``index`` of the same
  call shifting between fragments (``stream_function_call_arguments``).
* ``"gemini"``: the Gemini API: each call whole in one chunk with no ``index``, parallel calls
  in separate chunks, usage on every chunk (only the last one is right).
* ``"index0"``: several parallel calls, all at ``index`` 0, ids on first fragments only.

This module imports hypothesis; ``import chunkwise`` never imports it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

__all__ = [
    "STYLES",
    "byte_pieces",
    "chunks_from",
    "completion_streams",
    "completions",
    "sse_bytes",
]

STYLES = ("openai", "vertex", "gemini", "index0")

_FINISH_REASONS = ("stop", "length", "content_filter")
_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_NON_EMPTY_TEXT = _TEXT.filter(bool)
_IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
_JSON_SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _TEXT
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_IDENT, inner, max_size=3),
    max_leaves=8,
)
_SIGNATURE = st.binary(min_size=1, max_size=24).map(lambda b: b.hex())


def _check_count(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InvalidArgument(f"{name}={value!r} must be an integer >= {low}")


@st.composite
def _tool_calls(draw: st.DrawFn, max_tool_calls: int) -> list[dict[str, Any]]:
    count = draw(st.integers(1, max_tool_calls))
    ids = draw(
        st.lists(
            st.from_regex(r"(call_|function-call-)[a-z0-9-]{1,12}", fullmatch=True),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    calls = []
    for position, call_id in enumerate(ids):
        call: dict[str, Any] = {
            "id": call_id,
            "type": "function",
            "function": {
                "name": draw(_IDENT),
                "arguments": json.dumps(draw(st.dictionaries(_IDENT, _JSON, max_size=3)), ensure_ascii=False),
            },
        }
        # Gemini signs the first call of a parallel set.
        if position == 0 and draw(st.booleans()):
            call["extra_content"] = {"google": {"thought_signature": draw(_SIGNATURE)}}
        calls.append(call)
    return calls


@st.composite
def _message(draw: st.DrawFn, max_tool_calls: int, thinking: bool) -> tuple[dict[str, Any], str]:
    message: dict[str, Any] = {"role": "assistant"}
    if draw(st.booleans()):
        message["content"] = draw(_TEXT)
    if thinking and draw(st.booleans()):
        message["reasoning_content"] = draw(_NON_EMPTY_TEXT)
    if draw(st.integers(0, 9)) == 0:
        message["refusal"] = draw(_NON_EMPTY_TEXT)
    finish = draw(st.sampled_from(_FINISH_REASONS))
    if max_tool_calls and draw(st.booleans()):
        message["tool_calls"] = draw(_tool_calls(max_tool_calls))
        finish = "tool_calls"
    if draw(st.booleans()):
        message["extra_content"] = {"google": {"thought_signature": draw(_SIGNATURE)}}
    return message, finish


def completions(
    *, max_choices: int = 2, max_tool_calls: int = 3, thinking: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    """Finished ``chat.completion`` objects as JSON-ready dicts (the form ``model_dump(exclude_none=True)``
    gives): 1 to ``max_choices`` choices, each with optional content, thinking
    (``reasoning_content``), refusal, up to ``max_tool_calls`` tool calls (the first maybe carrying a
    Gemini thought signature), a message-level signature, a finish reason; and maybe usage."""
    _check_count("max_choices", max_choices, 1)
    _check_count("max_tool_calls", max_tool_calls, 0)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        completion: dict[str, Any] = {
            "id": draw(st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True)),
            "object": "chat.completion",
            "created": draw(st.integers(1, 2**31)),
            "model": draw(st.sampled_from(("google/gemini-3-pro-preview", "gemini-2.5-flash", "gpt-4o"))),
        }
        if draw(st.booleans()):
            completion["system_fingerprint"] = draw(st.sampled_from(("", "fp_abc123")))
        choices = []
        for index in range(draw(st.integers(1, max_choices))):
            message, finish = draw(_message(max_tool_calls, thinking))
            choices.append({"index": index, "message": message, "finish_reason": finish})
        completion["choices"] = choices
        if draw(st.booleans()):
            prompt, completion_tokens = draw(st.integers(0, 10**5)), draw(st.integers(0, 10**5))
            usage: dict[str, Any] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt + completion_tokens + draw(st.integers(0, 1000)),
            }
            if draw(st.booleans()):
                usage["completion_tokens_details"] = {"reasoning_tokens": draw(st.integers(0, 10**4))}
            completion["usage"] = usage
        return completion

    return build()


def _cut(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` in 1..n non-empty pieces at drawn points (no pieces for "")."""
    if not text:
        return []
    points = draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=min(len(text) - 1, 8)))
    bounds = [0, *sorted(p for p in points if 0 < p < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _call_deltas(draw: st.DrawFn, calls: list[dict[str, Any]], style: str) -> list[list[dict[str, Any]]]:
    """Tool-call fragments for one choice, as a list of ``delta.tool_calls`` arrays (one per chunk)."""
    out: list[list[dict[str, Any]]] = []
    for position, call in enumerate(calls):
        name = call["function"]["name"]
        pieces = _cut(draw, call["function"]["arguments"])
        extra = call.get("extra_content")
        if style == "gemini":
            whole = {
                "id": call["id"],
                "type": "function",
                "function": {"name": name, "arguments": call["function"]["arguments"]},
            }
            if extra is not None:
                whole["extra_content"] = extra
            out.append([whole])
            continue
        if style == "vertex":
            # id, name and type on every fragment; the index shifts (Vertex: A opens at 1, then 0).
            first_index = draw(st.integers(0, len(calls)))
            opening = {
                "id": call["id"],
                "index": first_index,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            if extra is not None:
                opening["extra_content"] = extra
            out.append([opening])
            for piece in pieces:
                out.append(
                    [
                        {
                            "id": call["id"],
                            "index": draw(st.integers(0, len(calls))),
                            "type": "function",
                            "function": {"name": name, "arguments": piece},
                        }
                    ]
                )
            continue
        index = 0 if style == "index0" else position
        opening = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        if extra is not None:
            opening["extra_content"] = extra
        out.append([opening])
        out.extend([{"index": index, "function": {"arguments": piece}}] for piece in pieces)
    return out


def chunks_from(
    completion: Mapping[str, Any], *, style: str = "openai"
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """The chunk dicts a server of ``style`` would stream for ``completion`` (a dict in the shape
    ``completions()`` generates), with text cut at drawn points and choices interleaved."""
    if style not in STYLES:
        raise InvalidArgument(f"style={style!r} must be one of {STYLES}")

    @st.composite
    def build(draw: st.DrawFn) -> list[dict[str, Any]]:
        envelope = {
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
        }
        if "system_fingerprint" in completion:
            envelope["system_fingerprint"] = completion["system_fingerprint"]
        per_choice: list[list[dict[str, Any]]] = []
        for choice in completion["choices"]:
            message = choice["message"]
            deltas: list[dict[str, Any]] = [{"role": message.get("role", "assistant")}]
            if message.get("content") == "":
                deltas[0]["content"] = ""
            deltas += [{"reasoning_content": p} for p in _cut(draw, message.get("reasoning_content") or "")]
            deltas += [{"content": p} for p in _cut(draw, message.get("content") or "")]
            deltas += [{"refusal": p} for p in _cut(draw, message.get("refusal") or "")]
            deltas += [{"tool_calls": f} for f in _call_deltas(draw, message.get("tool_calls") or [], style)]
            final: dict[str, Any] = {}
            if "extra_content" in message:
                # Gemini puts a text answer's signature on a final chunk with empty content.
                final = (
                    {"content": "", "extra_content": message["extra_content"]}
                    if message.get("content") is not None
                    else {"extra_content": message["extra_content"]}
                )
            if style == "vertex":
                deltas = [{"role": "assistant", **d} for d in deltas]
                final = {"role": "assistant", **final}
            items = [{"index": choice["index"], "delta": d} for d in deltas]
            items.append({"index": choice["index"], "delta": final, "finish_reason": choice["finish_reason"]})
            per_choice.append(items)

        # Interleave the choices, each in its own order (n > 1 streams do).
        order: list[int] = []
        for position, items in enumerate(per_choice):
            order += [position] * len(items)
        order = draw(st.permutations(order))
        cursors = [0] * len(per_choice)
        chunks = []
        for position in order:
            chunks.append({**envelope, "choices": [per_choice[position][cursors[position]]]})
            cursors[position] += 1

        usage = completion.get("usage")
        if usage is not None:
            if style == "gemini":
                # Usage on every chunk, growing; only the last is the real one (summing overcounts).
                for chunk in chunks[:-1]:
                    chunk["usage"] = {**usage, "completion_tokens": draw(st.integers(0, 10))}
                chunks[-1]["usage"] = usage
            elif draw(st.booleans()):
                chunks.append({**envelope, "choices": [], "usage": usage})
            else:
                chunks[-1]["usage"] = usage
        return chunks

    return build()


def completion_streams(
    *, style: str | None = None, max_choices: int = 2, max_tool_calls: int = 3
) -> st.SearchStrategy[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Pairs ``(completion, chunks)``: a finished completion and a stream of it in ``style``
    (any style when None)."""
    if style is not None and style not in STYLES:
        raise InvalidArgument(f"style={style!r} must be one of {STYLES} or None")
    styles = st.just(style) if style is not None else st.sampled_from(STYLES)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        completion = draw(completions(max_choices=max_choices, max_tool_calls=max_tool_calls))
        return completion, draw(chunks_from(completion, style=draw(styles)))

    return build()


def sse_bytes(chunks: Sequence[Mapping[str, Any]], *, done: bool = True, line_ending: str = "\n") -> bytes:
    """Render chunks as an SSE body: ``data: <json>`` and a blank line each, then ``data: [DONE]``."""
    if line_ending not in ("\n", "\r\n", "\r"):
        raise InvalidArgument(f"line_ending={line_ending!r} must be one of '\\n', '\\r\\n', '\\r'")
    events = [f"data: {json.dumps(chunk, ensure_ascii=False)}" for chunk in chunks]
    if done:
        events.append("data: [DONE]")
    return "".join(event + line_ending * 2 for event in events).encode("utf-8")


def byte_pieces(data: bytes, *, max_pieces: int = 64) -> st.SearchStrategy[list[bytes]]:
    """``data`` cut at drawn points, anywhere: inside a line, a ``\\r\\n``, a UTF-8 character."""
    _check_count("max_pieces", max_pieces, 1)
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidArgument(f"data must be bytes, not {type(data).__name__}")
    if len(data) < 2:
        return st.just([bytes(data)])
    cuts = st.sets(st.integers(1, len(data) - 1), max_size=max_pieces - 1)
    return cuts.map(
        lambda points: [data[a:b] for a, b in itertools.pairwise([0, *sorted(points), len(data)])]
    )
