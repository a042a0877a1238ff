"""Hypothesis strategies for fuzzing stream handling: ours, or yours.

Each example is generated the right way round: first a finished ``chat.completion`` (the oracle),
then that completion cut into a stream of chunks in the style of a real server, then the chunks
rendered as SSE bytes and the bytes cut at random points. Whatever consumes the stream must give
back the completion it started from; a failure shrinks to a small completion and few cuts.

    from hypothesis import given, strategies as st
    from chunkwise import strategies as cs

    @given(cs.completion_streams(style="vertex"), st.data())
    def test_my_client(pair, data):
        completion, chunks = pair
        pieces = data.draw(cs.byte_pieces(cs.sse_bytes(chunks)))
        assert my_client(pieces) == completion

What a completion may hold (``completions``), each part drawn sometimes, per choice: answer text
(``content``), thinking (``reasoning_content``), a refusal, OpenAI url citations
(``annotations``), ``logprobs`` token lists, and either tool calls or a legacy ``function_call``
(the pre-tools API, finish reason ``"function_call"``). Tool calls are function calls (JSON
arguments) or custom calls (``type: "custom"``, free-form ``input``, no ``function`` object); the
first may carry a Gemini thought signature, the message a message-level one. Arguments are
usually JSON, sometimes not: Vertex's unescaped newlines, or a prefix cut short by a
``"length"`` finish; the result keeps them verbatim. The completion may carry usage.

How it is streamed (``chunks_from``), in every style: text, arguments and custom input cut at
drawn points; adjacent deltas sometimes sharing one delta (role, content, thinking, annotations,
tool-call fragments), and adjacent tool-call fragments sometimes one ``tool_calls`` array;
annotations over one or more chunks (the result is their concatenation); each chunk's
``logprobs`` holding that chunk's tokens, the others ``null`` or none; a call's signature
sometimes on a trailing fragment that carries only ``extra_content`` (Gemini: it belongs to the
most recent call of its choice); ``function_call`` as its name, then its arguments in pieces;
choices interleaved. With ``thought_tag`` set, some choices send their thinking inside
``content`` as ``<tag>thinking</tag>answer`` (one block, or several back to back), the tags cut
anywhere; the consumer must then assemble with the same tag.

Stream styles (``STYLES``), each from documented or recorded provider behaviour:

* ``"openai"``: a call's id, type and name on its first fragment only, ``index`` = its position.
* ``"vertex"``: id, name, type and role repeated on every fragment (the ``function_call`` name
  too), the ``index`` of the same call shifting between fragments
  (``stream_function_call_arguments``).
* ``"gemini"``: the Gemini API: each call (and ``function_call``) whole in one fragment with no
  ``index``, usage on every chunk (only the last one is right), ``created`` changing
  between chunks (the first is the result's), and thinking sometimes sent the ``include_thoughts``
  way: ``<thought>``-prefixed chunks flagged ``extra_content.google.thought: true``, then the first
  unflagged chunk opening with ``</thought>``. The flag is authoritative whatever tag the consumer
  configured (``None`` included) and never appears in the result.
* ``"index0"``: several parallel calls, all at ``index`` 0, ids on first fragments only.

Streams that go wrong (``faulty_streams``, ``FaultyStream``, ``FAULTS``): a healthy stream with one
fault real servers produce (cut at any byte, an error chunk, ``event: error``, Vertex's raw error
line, no ``[DONE]``, a chunk sent twice, invalid JSON, invalid UTF-8, an error status), each with
the error a correct client raises and the partial completion it recovers (``_faulty``;
docs/strategies.md has the table).

This module imports hypothesis; ``import chunkwise`` never imports it.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ._faulty import FAULTS, FaultyStream, faulty_streams
from ._thinking import is_tag_name

__all__ = [
    "FAULTS",
    "STYLES",
    "FaultyStream",
    "byte_pieces",
    "chunks_from",
    "completion_streams",
    "completions",
    "faulty_streams",
    "sse_bytes",
]

STYLES = ("openai", "vertex", "gemini", "index0")

_T = TypeVar("_T")

_FINISH_REASONS = ("stop", "length", "content_filter")
_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_NON_EMPTY_TEXT = _TEXT.filter(bool)
# Content and thinking for a stream that may carry thinking inside tags: no `<`, so no accidental tag.
_PLAIN_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="<"), max_size=40)
_NON_EMPTY_PLAIN_TEXT = _PLAIN_TEXT.filter(bool)
_IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
_CALL_ID = st.from_regex(r"(call_|function-call-)[a-z0-9-]{1,12}", fullmatch=True)
_JSON_SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _TEXT
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_IDENT, inner, max_size=3),
    max_leaves=8,
)
_SIGNATURE = st.binary(min_size=1, max_size=24).map(lambda b: b.hex())
_JSON_ARGUMENTS = st.dictionaries(_IDENT, _JSON, max_size=3).map(lambda v: json.dumps(v, ensure_ascii=False))
# Vertex has been seen sending arguments with raw newlines inside a JSON string: not JSON.
_UNESCAPED_NEWLINE_ARGUMENTS = st.tuples(_IDENT, _IDENT, _IDENT).map(
    lambda t: f'{{"{t[0]}": "{t[1]}\n{t[2]}"}}'
)
# OpenAI `url_citation` annotations (web search).
_ANNOTATION = st.builds(
    lambda host, path, title, start, length: {
        "type": "url_citation",
        "url_citation": {
            "url": f"https://{host}.example/{path}",
            "title": title,
            "start_index": start,
            "end_index": start + length,
        },
    },
    _IDENT,
    _IDENT,
    _TEXT,
    st.integers(0, 200),
    st.integers(0, 50),
)
# One entry of OpenAI's `logprobs.content`.
_LOGPROB_TOKEN = st.builds(
    lambda token, logprob: {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode("utf-8")),
        "top_logprobs": [],
    },
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=6),
    st.floats(-30, 0, allow_nan=False, allow_infinity=False),
)
_THOUGHT_FLAG = {"google": {"thought": True}}


def _check_count(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InvalidArgument(f"{name}={value!r} must be an integer >= {low}")


def _check_bool(name: str, value: bool) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r} must be True or False")


def _check_completion(completion: Mapping[str, Any]) -> None:
    """The shape ``completions()`` draws (what streaming it reads), checked when the strategy is
    built, not at draw time: the envelope, each choice's index, message and finish reason, each
    call's id and type, a legacy call's name and arguments."""
    if not isinstance(completion, Mapping):
        raise InvalidArgument(f"completion must be a mapping, not {type(completion).__name__}")
    missing = [key for key in ("id", "created", "model") if key not in completion]
    if missing:
        raise InvalidArgument(
            f"completion has no {', '.join(map(repr, missing))} (the envelope each chunk repeats)"
        )
    choices = completion.get("choices")
    if not isinstance(choices, list) or not all(
        isinstance(c, Mapping) and isinstance(c.get("message"), Mapping) for c in choices
    ):
        raise InvalidArgument("completion['choices'] must be a list of choices, each with a `message`")
    for position, choice in enumerate(choices):
        if "index" not in choice or "finish_reason" not in choice:
            raise InvalidArgument(f"choice {position} needs `index` and `finish_reason`")
        if not isinstance(choice["finish_reason"], str):
            raise InvalidArgument(f"choice {position}: `finish_reason` must be a string (finished)")
        message = choice["message"]
        for call in message.get("tool_calls") or []:
            kind = call.get("type") if isinstance(call, Mapping) else None
            fields = ("name", "arguments") if kind == "function" else ("name", "input")
            body = call.get(kind) if kind in ("function", "custom") else None
            if "id" not in call or not isinstance(body, Mapping) or not all(k in body for k in fields):
                raise InvalidArgument(
                    f"choice {position}: each tool call needs `id`, `type` function or custom, and that body "
                    "with its name and arguments (or input)"
                )
        legacy = message.get("function_call")
        if legacy is not None and (
            not isinstance(legacy, Mapping) or "name" not in legacy or "arguments" not in legacy
        ):
            raise InvalidArgument(f"choice {position}: `function_call` needs `name` and `arguments`")


def _check_thought_tag(thought_tag: str | None) -> None:
    if thought_tag is not None and not is_tag_name(thought_tag):
        raise InvalidArgument(
            f"thought_tag={thought_tag!r} must be None or a tag name such as 'think' "
            "(non-empty, without '<' or '>')"
        )


# ---------------------------------------------------------------- the finished completion


@st.composite
def _arguments(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 7)) == 0:
        return draw(_UNESCAPED_NEWLINE_ARGUMENTS)
    return draw(_JSON_ARGUMENTS)


@st.composite
def _tool_call(draw: st.DrawFn) -> dict[str, Any]:
    call_id = draw(_CALL_ID)
    if draw(st.integers(0, 3)) == 0:
        # A custom tool call: free-form input, and no `function` object.
        return {"id": call_id, "type": "custom", "custom": {"name": draw(_IDENT), "input": draw(_TEXT)}}
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": draw(_IDENT), "arguments": draw(_arguments())},
    }


def _cut_short(draw: st.DrawFn, text: str) -> str:
    """A proper prefix of ``text`` (``""`` for ``""``): what a ``length`` finish leaves."""
    return text[: draw(st.integers(0, max(0, len(text) - 1)))]


@st.composite
def _choice(draw: st.DrawFn, max_tool_calls: int, thinking: bool, plain: bool) -> dict[str, Any]:
    """A finished choice without its ``index`` (the caller numbers them)."""
    text = _PLAIN_TEXT if plain else _TEXT
    message: dict[str, Any] = {"role": "assistant"}
    if draw(st.booleans()):
        message["content"] = draw(text)
    if thinking and draw(st.booleans()):
        message["reasoning_content"] = draw(_NON_EMPTY_PLAIN_TEXT if plain else _NON_EMPTY_TEXT)
    if draw(st.integers(0, 9)) == 0:
        message["refusal"] = draw(_NON_EMPTY_TEXT)
    if message.get("content") and draw(st.integers(0, 3)) == 0:
        message["annotations"] = draw(st.lists(_ANNOTATION, min_size=1, max_size=3))
    finish = draw(st.sampled_from(_FINISH_REASONS))
    tools = draw(st.integers(0, 5)) if max_tool_calls else 0
    cut_short = False
    if tools >= 4:
        calls = draw(st.lists(_tool_call(), min_size=1, max_size=max_tool_calls, unique_by=lambda c: c["id"]))
        # Gemini signs the first call of a parallel set.
        if draw(st.booleans()):
            calls[0]["extra_content"] = {"google": {"thought_signature": draw(_SIGNATURE)}}
        if draw(st.integers(0, 4)) == 0:
            # A `length` finish cuts the last call short: its text is kept verbatim, not JSON.
            last = calls[-1]
            key = "input" if last["type"] == "custom" else "arguments"
            last[last["type"]][key] = _cut_short(draw, last[last["type"]][key])
            cut_short = True
        message["tool_calls"] = calls
        finish = "tool_calls"
    elif tools == 3:
        # The legacy (pre-tools) function call: a message has it or tool calls, never both.
        arguments = draw(_arguments())
        if draw(st.integers(0, 4)) == 0:
            arguments, cut_short = _cut_short(draw, arguments), True
        message["function_call"] = {"name": draw(_IDENT), "arguments": arguments}
        finish = "function_call"
    if cut_short:
        finish = "length"
    if draw(st.booleans()):
        message["extra_content"] = {"google": {"thought_signature": draw(_SIGNATURE)}}
    choice: dict[str, Any] = {"message": message, "finish_reason": finish}
    if "content" in message and draw(st.integers(0, 3)) == 0:
        choice["logprobs"] = {"content": draw(st.lists(_LOGPROB_TOKEN, min_size=1, max_size=4))}
    return choice


def completions(
    *, max_choices: int = 2, max_tool_calls: int = 3, thinking: bool = True, thought_tag: str | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Finished ``chat.completion`` objects as JSON-ready dicts (the form ``model_dump(exclude_none=True)``
    gives): 1 to ``max_choices`` choices, each with optional content, thinking
    (``reasoning_content``, only if ``thinking``), refusal, annotations, logprobs, up to
    ``max_tool_calls`` tool calls or a legacy ``function_call`` (neither when ``max_tool_calls`` is
    0), a message-level signature, a finish reason; and maybe usage (see the module docstring).

    ``thought_tag``: the completion will be streamed with thinking inside ``<thought_tag>`` tags,
    so its content and thinking are drawn without ``<`` (no accidental tag)."""
    _check_count("max_choices", max_choices, 1)
    _check_count("max_tool_calls", max_tool_calls, 0)
    _check_bool("thinking", thinking)
    _check_thought_tag(thought_tag)
    return _completions(max_choices, max_tool_calls, thinking, plain=thought_tag is not None)


def _completions(
    max_choices: int, max_tool_calls: int, thinking: bool, plain: bool
) -> st.SearchStrategy[dict[str, Any]]:
    """``completions()`` without the checks; ``plain``: no ``<`` in content and thinking."""
    choice = _choice(max_tool_calls, thinking, plain=plain)

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
        choices = draw(st.lists(choice, min_size=1, max_size=max_choices))
        completion["choices"] = [{"index": index, **c} for index, c in enumerate(choices)]
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


# ---------------------------------------------------------------- cutting it into a stream


def _cut(draw: st.DrawFn, text: str, hot: Sequence[int] = ()) -> list[str]:
    """``text`` in 1..n non-empty pieces at drawn points (no pieces for ""); ``hot`` are positions
    where a cut is drawn more often (inside a tag)."""
    if not text:
        return []
    points = draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=min(len(text) - 1, 8)))
    if hot:
        points |= draw(st.sets(st.sampled_from(hot), max_size=2))
    bounds = [0, *sorted(p for p in points if 0 < p < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _groups(draw: st.DrawFn, items: Sequence[_T]) -> list[list[_T]]:
    """``items`` in 1..n consecutive non-empty groups (none for an empty sequence)."""
    if not items:
        return []
    starts = draw(st.lists(st.booleans(), min_size=len(items) - 1, max_size=len(items) - 1))
    groups = [[items[0]]]
    for item, start in zip(items[1:], starts, strict=True):
        if start:
            groups.append([item])
        else:
            groups[-1].append(item)
    return groups


def _tag_cut_points(text: str, tags: Iterable[str]) -> list[int]:
    """Every position strictly inside an occurrence of one of ``tags`` in ``text``."""
    points: list[int] = []
    for tag in tags:
        start = text.find(tag)
        while start >= 0:
            points += range(start + 1, start + len(tag))
            start = text.find(tag, start + 1)
    return points


def _thinking_and_content(
    draw: st.DrawFn, message: Mapping[str, Any], style: str, thought_tag: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Deltas for the thinking and the answer text; and whether the message-level ``extra_content``
    went out on one of them (then the final chunk need not carry it)."""
    reasoning = message.get("reasoning_content") or ""
    content = message.get("content")
    forms = ["field"]
    flagged = False
    if reasoning and isinstance(content, str):
        # Thinking can go inside content only where the result has content ("" at least).
        if thought_tag is not None:
            forms.append("tagged")
        if style == "gemini" and "</thought>" not in reasoning and "<thought>" not in content:
            # The Gemini API flags every thought chunk when asked for thoughts: the likelier form.
            flagged = draw(st.booleans())
    form = "flagged" if flagged else draw(st.sampled_from(forms))
    if form == "field":
        fields = [{"reasoning_content": p} for p in _cut(draw, reasoning)]
        return fields + [{"content": p} for p in _cut(draw, content or "")], False
    assert isinstance(content, str)
    if form == "tagged":
        assert thought_tag is not None
        # Vertex `thought_tag_marker`: one block, or several back to back.
        blocks = _cut(draw, reasoning) if draw(st.integers(0, 3)) == 0 else [reasoning]
        opening, closing = f"<{thought_tag}>", f"</{thought_tag}>"
        text = "".join(f"{opening}{block}{closing}" for block in blocks) + content
        pieces = _cut(draw, text, hot=_tag_cut_points(text, (opening, closing)))
        return [{"content": p} for p in pieces], False
    # The Gemini API's `include_thoughts`: `<thought>` opens the first flagged chunk, `</thought>`
    # the first unflagged one; the flag (not the tag) says what is thinking.
    thoughts = _cut(draw, reasoning)
    thoughts[0] = "<thought>" + thoughts[0]
    deltas: list[dict[str, Any]] = [
        {"content": p, "extra_content": copy.deepcopy(_THOUGHT_FLAG)} for p in thoughts
    ]
    signed = "extra_content" in message and draw(st.booleans())
    if signed:
        # The message's signature on the last thought chunk, beside the flag that must not stay.
        extra = copy.deepcopy(message["extra_content"])
        extra.setdefault("google", {})["thought"] = True
        deltas[-1]["extra_content"] = extra
    answer = _cut(draw, content) or [""]
    answer[0] = "</thought>" + answer[0]
    deltas += [{"content": p} for p in answer]
    return deltas, signed


def _call_fragments(
    draw: st.DrawFn, call: Mapping[str, Any], position: int, count: int, style: str
) -> list[Any]:
    """The ``delta.tool_calls`` fragments of one call, in order."""
    kind = call["type"]
    key = "input" if kind == "custom" else "arguments"
    name, text = call[kind]["name"], call[kind][key]
    extra = call.get("extra_content")
    # Gemini has been seen sending a call's signature on a trailing fragment of its own.
    trailing = extra is not None and draw(st.booleans())
    fragments: list[dict[str, Any]]
    if style == "gemini":
        fragments = [{"id": call["id"], "type": kind, kind: {"name": name, key: text}}]
    elif style == "vertex":
        # id, name and type on every fragment; the index shifts (Vertex: A opens at 1, then 0).
        fragments = [
            {
                "id": call["id"],
                "index": draw(st.integers(0, count)),
                "type": kind,
                kind: {"name": name, key: piece},
            }
            for piece in ["", *_cut(draw, text)]
        ]
    else:
        index = 0 if style == "index0" else position
        fragments = [{"index": index, "id": call["id"], "type": kind, kind: {"name": name, key: ""}}]
        fragments += [{"index": index, kind: {key: piece}} for piece in _cut(draw, text)]
    if extra is not None:
        if trailing:
            fragments.append({"extra_content": copy.deepcopy(extra)})
        else:
            fragments[0]["extra_content"] = copy.deepcopy(extra)
    return fragments


def _function_call_deltas(
    draw: st.DrawFn, function_call: Mapping[str, Any], style: str
) -> list[dict[str, Any]]:
    """The legacy ``delta.function_call`` deltas: the name first, then the arguments in pieces."""
    name, arguments = function_call["name"], function_call["arguments"]
    if style == "gemini":
        return [{"function_call": {"name": name, "arguments": arguments}}]
    pieces = _cut(draw, arguments)
    if style == "vertex":
        return [{"function_call": {"name": name, "arguments": p}} for p in ["", *pieces]]
    return [{"function_call": {"name": name, "arguments": ""}}] + [
        {"function_call": {"arguments": p}} for p in pieces
    ]


def _join_some(draw: st.DrawFn, deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent deltas sometimes sent as one: fields that do not clash share a delta (role, content,
    thinking, a tool-call fragment), and tool-call fragments share one ``tool_calls`` array."""
    if len(deltas) < 2:
        return deltas
    joins = draw(st.lists(st.booleans(), min_size=len(deltas) - 1, max_size=len(deltas) - 1))
    out = [deltas[0]]
    for delta, join in zip(deltas[1:], joins, strict=True):
        last = out[-1]
        shared = last.keys() & delta.keys()
        if join and shared <= {"tool_calls"}:
            merged = {**last, **delta}
            if shared:
                merged["tool_calls"] = last["tool_calls"] + delta["tool_calls"]
            out[-1] = merged
        else:
            out.append(delta)
    return out


def _choice_items(
    draw: st.DrawFn, choice: Mapping[str, Any], style: str, thought_tag: str | None, finish_beside: bool
) -> list[dict[str, Any]]:
    """The ``choices`` entries, one per chunk, that stream one finished choice; ``finish_beside``:
    the finish may come beside the last text or arguments instead of on a chunk of its own."""
    message = choice["message"]
    deltas: list[dict[str, Any]] = [{"role": message.get("role", "assistant")}]
    if message.get("content") == "":
        deltas[0]["content"] = ""
    text_deltas, signed = _thinking_and_content(draw, message, style, thought_tag)
    deltas += text_deltas
    deltas += [{"annotations": group} for group in _groups(draw, message.get("annotations") or [])]
    deltas += [{"refusal": p} for p in _cut(draw, message.get("refusal") or "")]
    calls = message.get("tool_calls") or []
    for position, call in enumerate(calls):
        deltas += [{"tool_calls": [f]} for f in _call_fragments(draw, call, position, len(calls), style)]
    if "function_call" in message:
        deltas += _function_call_deltas(draw, message["function_call"], style)
    deltas = _join_some(draw, deltas)
    final: dict[str, Any] = {}
    if "extra_content" in message and not signed:
        # Gemini puts a text answer's signature on a final chunk with empty content.
        final = (
            {"content": "", "extra_content": copy.deepcopy(message["extra_content"])}
            if message.get("content") is not None
            else {"extra_content": copy.deepcopy(message["extra_content"])}
        )
    # The finish on a chunk of its own, or on the last delta beside its text or arguments (Vertex
    # sends `"content": " you ordered."` and `"arguments": "}"` with the finish_reason).
    if final or not finish_beside or draw(st.booleans()):
        deltas.append(final)
    if style == "vertex":
        deltas = [{"role": "assistant", **d} for d in deltas]
    items: list[dict[str, Any]] = [{"index": choice["index"], "delta": d} for d in deltas]

    # Each chunk's `logprobs` holds the tokens of that chunk; the others say `null` or nothing.
    tokens = (choice.get("logprobs") or {}).get("content") or []
    bounds = sorted(
        draw(st.lists(st.integers(0, len(tokens)), min_size=len(items) - 1, max_size=len(items) - 1))
    )
    explicit_null = draw(st.booleans())
    for item, (a, b) in zip(items, itertools.pairwise([0, *bounds, len(tokens)]), strict=True):
        if a < b:
            # OpenAI sends `refusal: null` beside the content tokens: null stays null.
            item["logprobs"] = (
                {"content": tokens[a:b], "refusal": None} if explicit_null else {"content": tokens[a:b]}
            )
        elif explicit_null:
            item["logprobs"] = None
    items[-1]["finish_reason"] = choice["finish_reason"]
    return items


def _check_streamable(completion: Mapping[str, Any], thought_tag: str) -> None:
    """Content that holds the opening tag, or thinking that holds the closing one, cannot be
    streamed with thinking inside ``content``: the consumer would take it for a tag."""
    opening, closing = f"<{thought_tag}>", f"</{thought_tag}>"
    for choice in completion.get("choices") or []:
        message = choice.get("message") or {}
        content, reasoning = message.get("content"), message.get("reasoning_content")
        if (isinstance(content, str) and opening in content) or (
            isinstance(reasoning, str) and closing in reasoning
        ):
            raise InvalidArgument(
                f"choice {choice.get('index')} holds {opening!r} in its content or {closing!r} in its "
                f"thinking: it cannot be streamed with thought_tag={thought_tag!r}"
            )


def chunks_from(
    completion: Mapping[str, Any], *, style: str = "openai", thought_tag: str | None = None
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """The chunk dicts a server of ``style`` would stream for ``completion`` (a dict in the shape
    ``completions()`` generates), with text cut at drawn points and choices interleaved.

    ``thought_tag``: some choices with content and thinking send the thinking inside ``content``
    as ``<thought_tag>...</thought_tag>``; assemble with ``thought_tag`` set to the same name. A
    completion whose content holds ``<thought_tag>``, or whose thinking holds the closing tag,
    cannot be streamed that way: ``InvalidArgument`` (``completions(thought_tag=...)`` draws none)."""
    if style not in STYLES:
        raise InvalidArgument(f"style={style!r} must be one of {STYLES}")
    _check_completion(completion)
    _check_thought_tag(thought_tag)
    if thought_tag is not None:
        _check_streamable(completion, thought_tag)
    return _chunks(completion, style, thought_tag, finish_beside=True)


def _chunks(
    completion: Mapping[str, Any], style: str, thought_tag: str | None, finish_beside: bool
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """``chunks_from()`` without the checks. ``finish_beside``: the finish may also ride on the last
    text or arguments, as Vertex sends it (" you ordered." with ``stop``)."""

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
        per_choice = [
            _choice_items(draw, choice, style, thought_tag, finish_beside) for choice in completion["choices"]
        ]

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
        if style == "gemini" and len(chunks) > 1 and draw(st.booleans()):
            # AI Studio changes `created` between chunks: the first chunk's is the result's.
            later = draw(st.lists(st.integers(1, 2**31), min_size=len(chunks) - 1, max_size=len(chunks) - 1))
            for chunk, created in zip(chunks[1:], later, strict=True):
                chunk["created"] = created
        return chunks

    return build()


def completion_streams(
    *,
    style: str | None = None,
    max_choices: int = 2,
    max_tool_calls: int = 3,
    thought_tag: str | None = None,
) -> st.SearchStrategy[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Pairs ``(completion, chunks)``: a finished completion and a stream of it in ``style``
    (any style when None). With ``thought_tag``, some choices send their thinking inside
    ``content`` in that tag; assemble with the same ``thought_tag``."""
    if style is not None and style not in STYLES:
        raise InvalidArgument(f"style={style!r} must be one of {STYLES} or None")
    _check_thought_tag(thought_tag)
    _check_count("max_choices", max_choices, 1)
    _check_count("max_tool_calls", max_tool_calls, 0)
    return _streams(
        style=style,
        max_choices=max_choices,
        max_tool_calls=max_tool_calls,
        thought_tag=thought_tag,
        plain=thought_tag is not None,
    )


def _streams(
    *,
    style: str | None,
    max_choices: int,
    max_tool_calls: int,
    thought_tag: str | None = None,
    plain: bool,
    finish_beside: bool = True,
) -> st.SearchStrategy[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """``completion_streams()`` without the checks; ``plain``: no ``<`` in content and thinking,
    ``finish_beside`` as in ``_chunks`` (``faulty_streams`` draws both)."""
    styles = st.just(style) if style is not None else st.sampled_from(STYLES)
    completion_strategy = _completions(max_choices, max_tool_calls, True, plain=plain)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        completion = draw(completion_strategy)
        return completion, draw(_chunks(completion, draw(styles), thought_tag, finish_beside))

    return build()


def sse_bytes(chunks: Sequence[Mapping[str, Any]], *, done: bool = True, line_ending: str = "\n") -> bytes:
    """Render chunks as an SSE body: ``data: <json>`` and a blank line each, then ``data: [DONE]``."""
    if line_ending not in ("\n", "\r\n", "\r"):
        raise InvalidArgument(f"line_ending={line_ending!r} must be one of '\\n', '\\r\\n', '\\r'")
    _check_bool("done", done)
    chunks = list(chunks)  # an iterator too: the check below must not use it up
    if not all(isinstance(chunk, Mapping) for chunk in chunks):
        raise InvalidArgument("chunks must be mappings (chunk dicts)")
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
