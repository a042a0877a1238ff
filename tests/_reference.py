"""An independent reading of a recorded SSE body, for the conformance and differential tests.

Written from the SSE and chunk formats and docs/behaviour.md alone, sharing no code with
chunkwise: a plain line splitter, ``json.loads`` per ``data:`` payload, and per choice index the
concatenation of every text fragment in arrival order. It is deliberately naive (no limits, no
incremental decoding, no identity rules for tool calls); the tests compare chunkwise's result
with it, so a rule modelled here is a rule restated, not reused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# The chunk fields chunkwise names (docs/behaviour.md §2.1, §2.3, §3, §5, §7, §8, §10); every other
# key is an unknown field that must be kept (§2.4). `error` is a server error (§1.6), and
# `obfuscation` is OpenAI's padding, dropped on purpose (§10.4).
KNOWN_ENVELOPE = frozenset(
    {"id", "object", "created", "model", "system_fingerprint", "service_tier", "choices", "usage", "error"}
)
KNOWN_CHOICE = frozenset({"index", "delta", "finish_reason", "logprobs"})
KNOWN_DELTA = frozenset(
    {
        "role",
        "content",
        "reasoning_content",
        "reasoning",
        "refusal",
        "tool_calls",
        "function_call",
        "annotations",
        "audio",
        "extra_content",
    }
)
DROPPED = "obfuscation"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class Event:
    """One dispatched SSE event: its type (``""`` when none was named) and its joined data."""

    type: str
    data: str


def sse_events(body: bytes) -> list[Event]:
    """The SSE events of ``body``: ``data`` lines joined with ``\\n``, dispatched at a blank line or
    at the end of input; comments skipped. Lines of other fields than ``event``/``data`` are
    ignored (no recording has any)."""
    text = body.decode("utf-8").removeprefix("\ufeff")
    events: list[Event] = []
    kind, data = "", list[str]()
    for line in [*_LINE_BREAK.split(text), ""]:
        if not line:
            if data or kind:
                events.append(Event(kind, "\n".join(data)))
            kind, data = "", list[str]()
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            kind = value
    return events


def payloads(body: bytes) -> list[Any]:
    """Every JSON payload of ``body`` in order, ``[DONE]`` and empty data left out; an
    ``event: error`` frame's payload is kept (it is a payload the stream numbers)."""
    out = []
    for event in sse_events(body):
        data = event.data.strip()
        if data and data != "[DONE]":
            out.append(json.loads(data))
    return out


def has_done(body: bytes) -> bool:
    return any(event.data.strip() == "[DONE]" for event in sse_events(body))


@dataclass
class ChoiceText:
    """What one choice index received, in arrival order."""

    content: list[str] = field(default_factory=list)
    #: The content fragments sent as a plain string (not as typed parts).
    plain_content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    #: Every fragment of tool-call arguments, in arrival order, whichever call it belongs to.
    arguments: list[str] = field(default_factory=list)
    #: Every non-empty tool-call name and id sent.
    names: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    finish_reason: str | None = None
    saw_content: bool = False
    #: The last content delta was flagged as thinking (§4.5).
    after_flagged: bool = False
    delta_keys: set[str] = field(default_factory=set)
    choice_keys: set[str] = field(default_factory=set)


def _fix_surrogates(text: str) -> str:
    """§11.5: a surrogate pair split across fragments is one character; a lone one is U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


@dataclass
class Reference:
    """The naive reading of a list of payloads."""

    choices: dict[int, ChoiceText] = field(default_factory=dict)
    #: The last non-null ``usage`` (§8.1).
    usage: dict[str, Any] | None = None
    envelope_keys: set[str] = field(default_factory=set)

    def text(self, index: int, name: str) -> str | None:
        """The concatenated ``content``, ``reasoning`` or ``refusal`` of choice ``index``; None when
        that field never carried text (§3.1 and §3.3: content ``""`` counts, refusal ``""`` does
        not)."""
        choice = self.choices[index]
        pieces: list[str] = getattr(choice, name)
        if name == "content" and not choice.saw_content:
            return None
        if name != "content" and not "".join(pieces):
            return None
        return _fix_surrogates("".join(pieces))


def _thinking_text(value: Any) -> str:
    """A Mistral ``thinking`` part's value: a string or a list of text parts (§3.2)."""
    if isinstance(value, str):
        return value
    return "".join(part.get("text", "") for part in value if isinstance(part, dict))


def _read_delta(choice: ChoiceText, delta: dict[str, Any]) -> None:
    choice.delta_keys |= set(delta)
    content = delta.get("content")
    flagged = any(
        isinstance(vendor, dict) and vendor.get("thought") is True
        for vendor in ((delta.get("extra_content") or {}).get(key) for key in ("google", "vertex"))
    )
    if isinstance(content, str):
        if flagged:
            # §4.5: a flagged delta is thinking, its <thought> tags removed, and so is a
            # `</thought>` opening the first unflagged delta after it.
            choice.reasoning.append(content.replace("<thought>", "").replace("</thought>", ""))
        else:
            if choice.after_flagged:
                content = content.removeprefix("</thought>")
            # §11.1: after the finish an empty content is no answer (it must not turn null into "").
            choice.saw_content |= bool(content) or choice.finish_reason is None
            choice.content.append(content)
            choice.plain_content.append(content)
        choice.after_flagged = flagged
    elif isinstance(content, list):
        # §3.2: text parts are the answer, thinking parts are thinking.
        for part in content:
            if part.get("type") == "text":
                choice.saw_content |= choice.finish_reason is None or bool(content)
                choice.content.append(part["text"])
            elif part.get("type") == "thinking":
                choice.reasoning.append(_thinking_text(part.get("thinking")))
    # §3.5: both names are thinking, counted once when one delta repeats the same text under both.
    named: list[str] = [
        text
        for text in (delta.get("reasoning_content"), delta.get("reasoning"))
        if isinstance(text, str) and text
    ]
    if len(named) == 2 and named[0] == named[1]:
        named = named[:1]
    choice.reasoning.extend(named)
    if not named:
        # §10.5: `reasoning.text` entries fill in when the delta has no other thinking text.
        for entry in delta.get("reasoning_details") or []:
            if entry.get("type") == "reasoning.text" and isinstance(entry.get("text"), str):
                choice.reasoning.append(entry["text"])
    if isinstance(delta.get("refusal"), str):
        choice.refusal.append(delta["refusal"])
    for call in delta.get("tool_calls") or []:
        function = call.get("function") or {}
        if isinstance(function.get("arguments"), str):
            choice.arguments.append(function["arguments"])
        if function.get("name"):
            choice.names.add(function["name"])
        if call.get("id"):
            choice.ids.add(call["id"])


def read(chunks: list[Any]) -> Reference:
    """The reference reading of ``chunks`` (parsed payloads; error payloads contribute what they
    carry besides the error, as §1.6 (b) merges them)."""
    ref = Reference()
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        ref.envelope_keys |= set(chunk)
        for entry in chunk.get("choices") or []:
            choice = ref.choices.setdefault(entry.get("index", 0), ChoiceText())
            choice.choice_keys |= set(entry)
            if isinstance(entry.get("delta"), dict):
                _read_delta(choice, entry["delta"])
            if entry.get("finish_reason") and choice.finish_reason is None:
                choice.finish_reason = entry["finish_reason"]
        if chunk.get("usage") is not None:
            ref.usage = chunk["usage"]
    return ref
