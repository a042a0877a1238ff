"""The sans-IO stream assembler: chunks in, events out, a finished ``chat.completion`` at the end.

Theory of operation
-------------------
The assembler has three states (``State``):

    OPEN --close(), complete--> CLOSED
    OPEN --server error / malformed input / close() while incomplete--> FAILED

Only OPEN accepts input. A failure raises at once, with the partial completion and the events the
failing call produced; afterwards every call but reading ``snapshot`` raises
``AssemblerStateError`` (``completion`` re-raises the error that ended the stream).

While OPEN, each chunk is merged into plain per-choice state (lists of text pieces, dicts), never
into pydantic models: the result model is built once at the end, or on demand for ``snapshot``.
Text is kept as lists of pieces and joined once, so assembly is linear in the stream's length.

State is keyed by the choice's ``index`` (choice 1 may arrive before choice 0, SPEC 2) and, inside
a choice, tool calls are found by id, then by index, then as the most recent call (SPEC 5). Each
field has its own merge rule, written beside the code that applies it, with the provider quirk
that forces it. Where a field is not text and not named here, ``merge_into`` decides.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from ._errors import (
    AssemblerStateError,
    ChunkwiseError,
    IncompleteStreamError,
    MalformedChunkError,
    ServerError,
)
from ._events import (
    ChoiceFinished,
    ContentDone,
    Event,
    ReasoningDone,
    RefusalDelta,
    RefusalDone,
    ServerErrorReceived,
    StreamEnded,
    ToolCallDone,
    ToolCallStarted,
    UsageReported,
    arguments_delta,
    content_delta,
    reasoning_delta,
)
from ._merge import copy_json, merge_into
from ._models import (
    Audio,
    ChatCompletion,
    Choice,
    ChoiceLogprobs,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
    construct,
)
from ._sse import SSEDecoder, StrayText
from ._thinking import TAG, THINKING, ThinkTagSplitter

__all__ = ["State", "StreamAssembler", "assemble"]


class State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    FAILED = "failed"


# Envelope fields whose first non-empty value is kept. AI Studio changes `created` between chunks
# and Azure opens with a prompt-filter chunk whose id/model/object are "": first non-empty wins.
_ENVELOPE_TYPES: dict[str, type] = {
    "id": str,
    "object": str,
    "created": int,
    "model": str,
    "system_fingerprint": str,
    "service_tier": str,
}
_ENVELOPE_KNOWN = frozenset((*_ENVELOPE_TYPES, "choices", "usage", "error"))
_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
_CHOICE_KNOWN = frozenset(("index", "delta", "finish_reason", "logprobs"))
_CALL_KNOWN = frozenset(("id", "index", "type", "function", "extra_content"))
_FUNCTION_KNOWN = frozenset(("name", "arguments"))
_AUDIO_KNOWN = frozenset(("id", "data", "expires_at", "transcript", "extra_content"))
# OpenRouter `reasoning_details` entries stream their text in pieces under one (type, index).
_DETAIL_TEXT_FIELDS = frozenset(("text", "summary"))


class _Malformed(Exception):
    """Internal: a chunk has the wrong shape. Turned into MalformedChunkError with position and raw text."""


def _blank(value: object) -> bool:
    """An envelope placeholder: Azure's prompt-filter chunk has `id: ""`, `created: 0`."""
    return value is None or value == "" or (value == 0 and not isinstance(value, bool))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Pieces:
    """Text that arrives in many small pieces (content, thinking, tool arguments).

    Pieces are appended to a list and joined once, so assembly stays linear. A list of 100k
    one-token strings costs about twelve times the text it holds, though, so every ``_BLOCK``
    pieces are joined into a block: memory stays near the text's own size, and each character is
    copied once more, so time stays linear.
    """

    __slots__ = ("blocks", "pieces")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.blocks: list[str] = []

    def add(self, text: str) -> None:
        self.pieces.append(text)
        if len(self.pieces) >= _BLOCK:
            self.compact()

    def compact(self) -> None:
        self.blocks.append("".join(self.pieces))
        self.pieces = []

    def value(self) -> str:
        if self.pieces:
            self.compact()
        if len(self.blocks) > 1:
            self.blocks = ["".join(self.blocks)]
        return self.blocks[0] if self.blocks else ""


_BLOCK = 512


class _Call:
    """One tool call being assembled."""

    __slots__ = (
        "args",
        "checked",
        "extra",
        "extra_content",
        "function_extra",
        "id",
        "name",
        "position",
        "type",
    )

    def __init__(self, position: int) -> None:
        self.position = position
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.args = _Pieces()
        self.extra_content: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        self.function_extra: dict[str, Any] = {}
        # (length of the arguments text checked, parsed value, error): JSON is parsed once per change.
        self.checked: tuple[int, Any, str | None] | None = None

    def check(self, parse: bool = True) -> tuple[str, Any, str | None]:
        """Arguments text, its parsed JSON value, and the error when it is not JSON (SPEC 5).

        Invalid JSON (a `length` finish, Vertex's unescaped newlines) is kept verbatim and
        reported, never replaced. With ``parse=False`` the text is only validated, and the parsed
        value is ``_UNPARSED``: building every object of a large argument value just to drop it
        would cost more memory than the whole answer.
        """
        text = self.args.value()
        checked = self.checked
        if checked is not None and checked[0] == len(text) and (checked[1] is not _UNPARSED or not parse):
            return text, checked[1], checked[2]
        parsed: Any = None
        error: str | None = None
        try:
            parsed = json.loads(text) if parse else _validate(text)
        except ValueError as exc:
            error = f"arguments are not valid JSON: {exc}"
        except RecursionError:
            error = "arguments are not valid JSON: nested too deeply"
        if error is not None:
            parsed = None
        self.checked = (len(text), parsed, error)
        return text, parsed, error


# Validates JSON text without keeping what it describes: objects become None as they are read.
_UNPARSED = object()
_VALIDATOR = json.JSONDecoder(object_pairs_hook=lambda pairs: None)


def _validate(text: str) -> object:
    _VALIDATOR.decode(text)
    return _UNPARSED


class _Detail:
    """One OpenRouter `reasoning_details` entry; its text fields arrive in pieces."""

    __slots__ = ("fields", "pieces")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.pieces: dict[str, list[str]] = {}

    def build(self) -> dict[str, Any]:
        out: dict[str, Any] = copy_json(self.fields)
        for name, pieces in self.pieces.items():
            out[name] = "".join(pieces)
        return out


class _Choice:
    """Everything received for one choice index."""

    __slots__ = (
        "audio_data",
        "audio_extra",
        "audio_fields",
        "audio_transcript",
        "by_id",
        "by_index",
        "calls",
        "content_seen",
        "delta_extra",
        "details",
        "details_by_key",
        "extra",
        "extra_content",
        "finish_reason",
        "index",
        "last_call",
        "logprobs",
        "parts",
        "reasoning",
        "refusal",
        "role",
        "run_extra",
        "splitter",
        "text",
        "unterminated",
    )

    def __init__(self, index: int, thought_tag: str | None) -> None:
        self.index = index
        self.role: str | None = None
        # Answer text of the current text run; with `parts` None (the usual case) the whole answer.
        self.text = _Pieces()
        self.content_seen = False
        # Set once a content part that is not plain text arrives (SPEC 3): the content becomes a
        # list of parts, text runs merged between them.
        self.parts: list[dict[str, Any]] | None = None
        self.run_extra: dict[str, Any] | None = None
        self.reasoning: _Pieces | None = None
        self.refusal: list[str] | None = None
        self.splitter = ThinkTagSplitter(thought_tag) if thought_tag else None
        self.unterminated = False
        self.calls: list[_Call] = []
        self.by_id: dict[str, _Call] = {}
        self.by_index: dict[int, _Call] = {}
        self.last_call: _Call | None = None
        self.finish_reason: str | None = None
        self.logprobs: dict[str, Any] | None = None
        self.audio_fields: dict[str, Any] | None = None
        self.audio_data: list[str] = []
        self.audio_transcript: list[str] = []
        self.audio_extra: dict[str, Any] = {}
        self.extra_content: dict[str, Any] | None = None
        self.details: list[_Detail | Any] = []
        self.details_by_key: dict[tuple[Any, Any], _Detail] = {}
        self.delta_extra: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}

    def answer_text(self) -> str:
        return self.text.value()

    def content_value(self) -> str | list[Any] | None:
        if self.parts is None:
            return self.answer_text() if self.content_seen else None
        parts: list[Any] = copy_json(self.parts)
        run = self.answer_text()
        if run or self.run_extra:
            parts.append({"type": "text", "text": run, **copy_json(self.run_extra or {})})
        return parts

    def all_answer_text(self) -> str:
        if self.parts is None:
            return self.answer_text()
        texts = [p["text"] for p in self.parts if p.get("type") == "text" and isinstance(p.get("text"), str)]
        texts.append(self.answer_text())
        return "".join(texts)

    def close_text_run(self) -> None:
        assert self.parts is not None
        run = self.answer_text()
        if run or self.run_extra:
            self.parts.append({"type": "text", "text": run, **(self.run_extra or {})})
        self.text = _Pieces()
        self.run_extra = None


class StreamAssembler:
    """Chunks in, typed events out, a finished ``ChatCompletion`` at the end. No I/O.

    ``thought_tag``: the tag name that wraps thinking inside ``content`` (``"think"`` for Vertex's
    ``thought_tag_marker: "think"`` and DeepSeek-R1; ``"thought"`` for the Gemini API with
    ``include_thoughts``). ``require_done``: treat a stream without ``data: [DONE]`` as incomplete
    (off by default: many servers finish properly without it). ``emit_events=False``: every call
    returns ``[]`` and skips building delta events, for callers that only want the completion
    (``assemble`` does this).
    """

    def __init__(
        self, *, thought_tag: str | None = None, require_done: bool = False, emit_events: bool = True
    ) -> None:
        if thought_tag is not None and (
            not isinstance(thought_tag, str) or not thought_tag or "<" in thought_tag or ">" in thought_tag
        ):
            raise ValueError(f"thought_tag must be a tag name such as 'think', not {thought_tag!r}")
        self._thought_tag = thought_tag
        self._require_done = require_done
        self._emit = emit_events
        # Envelope fields still without a non-empty value: only these are looked at per chunk.
        self._unsettled: tuple[str, ...] = tuple(_ENVELOPE_TYPES)
        self._state = State.OPEN
        self._error: ChunkwiseError | None = None
        self._decoder: SSEDecoder | None = None
        self._position = 0  # payloads seen, for error messages
        self._done = False
        self._envelope: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None
        self._choices: dict[int, _Choice] = {}
        self._final: ChatCompletion | None = None

    # ---------------------------------------------------------------- public surface

    @property
    def state(self) -> State:
        return self._state

    @property
    def done_received(self) -> bool:
        """Whether ``data: [DONE]`` has arrived."""
        return self._done

    @property
    def snapshot(self) -> ChatCompletion:
        """The completion as assembled so far (a new, independent object on each read).

        Text held back because it may begin a thought tag (at most the tag's length) is not in it
        until the next chunk or ``close()`` decides what it is.
        """
        return self._build(detach=True)

    @property
    def completion(self) -> ChatCompletion:
        """The finished completion. Raises unless ``close()`` found the stream complete."""
        if self._state is State.CLOSED:
            if self._final is None:
                self._final = self._build()
            return self._final
        if self._error is not None:
            raise self._error
        raise AssemblerStateError("the stream is still open: call close() before reading the completion")

    def feed(self, chunk: Any) -> list[Event]:
        """Merge one chunk: a parsed mapping, one SSE ``data:`` payload as JSON text or bytes, an
        SSE event object (``.event``/``.data``, e.g. httpx-sse's), or another client's chunk object
        exposing ``to_dict()``/``model_dump()`` (openai-python's ``ChatCompletionChunk``)."""
        if self._state is not State.OPEN:
            self._require_open()
        events: list[Event] = []
        try:
            if type(chunk) is dict:
                self._position += 1
                self._apply_chunk(chunk, events)
            else:
                self._feed_other(chunk, events)
        except _Malformed as exc:
            self._fail_malformed(exc, chunk, events)
        except RecursionError:  # a hand-built chunk nested deeper than Python can walk
            self._fail_malformed(_Malformed("the chunk is nested too deeply"), chunk, events)
        return events if self._emit else []

    def feed_bytes(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Merge raw SSE bytes, in pieces cut anywhere."""
        self._require_open()
        events: list[Event] = []
        if not isinstance(data, (bytes, bytearray, memoryview)):
            self._fail(
                MalformedChunkError(
                    f"feed_bytes() takes bytes, not {type(data).__name__}",
                    position=self._position,
                    raw=repr(data)[:200],
                ),
                events,
            )
        if self._decoder is None:
            self._decoder = SSEDecoder()
        try:
            items = self._decoder.decode_compact(bytes(data))
        except UnicodeDecodeError as exc:
            self._fail_utf8(exc, events)
        self._apply_sse_items(items, events)
        return events if self._emit else []

    def close(self) -> list[Event]:
        """End of stream: flush held-back text, check the stream is complete.

        Raises ``IncompleteStreamError`` (with the partial result) when a choice never finished or
        no choice appeared at all.
        """
        self._require_open()
        events: list[Event] = []
        if self._decoder is not None:
            try:
                items = self._decoder.flush_compact()
            except UnicodeDecodeError as exc:
                self._fail_utf8(exc, events)
            self._apply_sse_items(items, events)
        unfinished = [c.index for c in self._sorted_choices() if c.finish_reason is None]
        for index in unfinished:
            self._flush_thinking(self._choices[index], events)
        complete = bool(self._choices) and not unfinished and (self._done or not self._require_done)
        events.append(StreamEnded(complete=complete, done_received=self._done))
        if not complete:
            if not self._choices:
                reason = "the stream ended before any choice arrived"
            elif unfinished:
                reason = f"the stream ended before choice {', '.join(map(str, unfinished))} finished"
            else:
                reason = "the stream ended without data: [DONE]"
            self._fail(
                IncompleteStreamError(
                    reason,
                    unfinished_choices=unfinished,
                    done_received=self._done,
                ),
                events,
            )
        self._state = State.CLOSED
        return events if self._emit else []

    def _feed_many(self, items: Iterable[Any]) -> None:
        """``feed``/``feed_bytes`` for each item, without their per-call bookkeeping for the parsed
        dicts that make up most streams (``assemble`` uses this; its events are not wanted)."""
        self._require_open()  # and it stays open: any failure below raises out of the loop
        scratch: list[Event] = []
        apply_chunk = self._apply_chunk
        for item in items:
            if type(item) is dict:
                self._position += 1
                try:
                    apply_chunk(item, scratch)
                except _Malformed as exc:
                    self._fail_malformed(exc, item, scratch)
                except RecursionError:
                    self._fail_malformed(_Malformed("the chunk is nested too deeply"), item, scratch)
                if len(scratch) > 64:
                    scratch.clear()  # rare events (finish, usage) nobody reads here
            elif isinstance(item, (bytes, bytearray, memoryview)):
                self.feed_bytes(item)
            else:
                self.feed(item)

    # ---------------------------------------------------------------- input forms

    def _feed_other(self, chunk: Any, events: list[Event]) -> None:
        if isinstance(chunk, (str, bytes, bytearray, memoryview)):
            self._apply_payload(chunk, events)
            return
        if isinstance(chunk, Mapping):
            self._position += 1
            self._apply_chunk(dict(chunk), events)
            return
        data = getattr(chunk, "data", None)
        if isinstance(data, str) and hasattr(chunk, "event"):
            # An SSE event object: ours, or httpx-sse's ServerSentEvent.
            self._apply_payload(data, events, event=getattr(chunk, "event", None))
            return
        for method in ("to_dict", "model_dump"):
            dump = getattr(chunk, method, None)
            if callable(dump):
                try:
                    value = dump()
                except Exception as exc:  # another library's code: whatever it raises is input failure
                    raise _Malformed(f"{type(chunk).__name__}.{method}() failed: {exc!r}") from exc
                if not isinstance(value, dict):
                    raise _Malformed(f"{type(chunk).__name__}.{method}() did not return a mapping")
                self._position += 1
                self._apply_chunk(value, events)
                return
        raise _Malformed(f"cannot read a chunk from a {type(chunk).__name__}")

    def _apply_sse_items(self, items: list[Any], events: list[Event]) -> None:
        loads = json.loads
        apply_chunk = self._apply_chunk
        for item in items:
            try:
                if type(item) is str:
                    # The hot path: a plain `data:` event holding one chunk.
                    try:
                        value = loads(item)
                    except (ValueError, RecursionError):
                        value = None
                    if type(value) is dict:
                        self._position += 1
                        apply_chunk(value, events)
                    else:  # [DONE], an error body, or a malformed payload
                        self._apply_payload(item, events)
                elif type(item) is StrayText:
                    self._apply_stray(item.text, events)
                else:
                    self._apply_payload(item.data, events, event=item.event)
            except (_Malformed, RecursionError) as exc:
                raw = item if type(item) is str else item.text if type(item) is StrayText else item.data
                if isinstance(exc, RecursionError):
                    exc = _Malformed("the chunk is nested too deeply")
                self._fail_malformed(exc, raw, events)

    def _apply_payload(
        self, payload: str | bytes | bytearray | memoryview, events: list[Event], event: Any = None
    ) -> None:
        if not isinstance(payload, str):
            try:
                payload = bytes(payload).decode("utf-8")
            except UnicodeDecodeError as exc:
                self._position += 1
                self._fail_utf8(exc, events)
        self._position += 1
        stripped = payload.strip()
        if stripped == "[DONE]":
            self._done = True
            return
        if event == "error":
            # Groq: `event: error` then `data: {"error": {...}}`. The data need not be JSON.
            body = self._loads_or_none(stripped)
            self._raise_server_error(body if body is not None else payload, events)
        if not stripped:
            return  # an empty data payload carries nothing (keep-alive)
        value = self._loads(payload)
        if type(value) is dict:
            self._apply_chunk(value, events)
        elif _is_error_body(value):
            # Gemini error bodies are JSON arrays of {"error": {...}}.
            self._raise_server_error(value, events)
        else:
            raise _Malformed(f"payload is JSON but not an object: {type(value).__name__}")

    def _apply_stray(self, text: str, events: list[Event]) -> None:
        """Lines outside SSE framing. Vertex writes raw error bodies this way mid-stream (SPEC 1)."""
        self._position += 1
        value = self._loads_or_none(text)
        if _is_error_body(value):
            self._raise_server_error(value, events)
        if type(value) is dict and ("choices" in value or "object" in value):
            # A chunk written as a bare JSON line (JSON-lines output without SSE framing).
            self._apply_chunk(value, events)
            return
        raise _Malformed("a line outside SSE framing that is neither a chunk nor an error body")

    def _loads(self, text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            offset = getattr(exc, "pos", None)
            raise _MalformedJSON(f"invalid JSON: {exc}", offset) from exc
        except RecursionError as exc:
            raise _Malformed("invalid JSON: nested too deeply") from exc

    @staticmethod
    def _loads_or_none(text: str) -> Any:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return None

    # ---------------------------------------------------------------- merge rules

    def _apply_envelope(self, chunk: dict[str, Any]) -> None:
        """First non-empty value wins (SPEC 2); a field is checked until it has one, then left alone."""
        envelope = self._envelope
        settled = []
        for key in self._unsettled:
            value = chunk.get(key)
            if value is None or (key in envelope and _blank(value)):
                continue
            expected = _ENVELOPE_TYPES[key]
            if not isinstance(value, expected) or isinstance(value, bool):
                raise _Malformed(f"`{key}` must be {expected.__name__}, not {type(value).__name__}")
            envelope[key] = value
            if not _blank(value):
                settled.append(key)
        if settled:
            self._unsettled = tuple(k for k in self._unsettled if k not in settled)

    def _apply_chunk(self, chunk: dict[str, Any], events: list[Event]) -> None:
        if self._unsettled:
            envelope = self._envelope
            for key in self._unsettled:
                value = chunk.get(key)
                # Only a first value, or a non-empty one, can change the envelope.
                if value is not None and (value or key not in envelope):
                    self._apply_envelope(chunk)
                    break
        if not _ENVELOPE_KNOWN.issuperset(chunk):
            merge_into(self._extra, {k: v for k, v in chunk.items() if k not in _ENVELOPE_KNOWN})

        choices = chunk.get("choices")
        if choices:
            if type(choices) is not list:
                raise _Malformed("`choices` must be a list")
            for choice in choices:
                self._apply_choice(choice, events)

        usage = chunk.get("usage")
        if usage is not None:
            # SPEC 8: the last non-null usage is the usage. The Gemini API may send it on every
            # chunk; summing (as some clients do) overcounts. Totals are kept as sent.
            if not isinstance(usage, dict):
                raise _Malformed("`usage` must be an object")
            for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                count = usage.get(key)
                if count is not None and not _is_int(count):
                    raise _Malformed(f"`usage.{key}` must be an integer")
            self._usage = copy_json(usage)
            if self._emit:
                events.append(UsageReported(usage=copy_json(usage)))

        if chunk.get("error"):
            # OpenRouter sends `"error": {...}` on a chunk that also carries usage; that usage was
            # merged above so nothing is lost, then the stream fails.
            self._raise_server_error(chunk, events)

    def _apply_choice(self, raw: Any, events: list[Event]) -> None:
        if type(raw) is not dict:
            raise _Malformed("each entry of `choices` must be an object")
        index = raw.get("index", 0)
        choice = self._choices.get(index) if type(index) is int else None
        if choice is None:
            if not _is_int(index):
                raise _Malformed("`choices[].index` must be an integer")
            choice = self._choices[index] = _Choice(index, self._thought_tag)
        delta = raw.get("delta")
        if delta:
            if type(delta) is not dict:
                raise _Malformed("`delta` must be an object")
            content = delta.get("content")
            size = len(delta)
            if type(content) is str and (
                size == 1 or (size == 2 and choice.role is not None and "role" in delta)
            ):
                # The hot path: a text delta (with the role Vertex repeats on every chunk, already set).
                choice.content_seen = True
                if content:
                    if choice.splitter is None:
                        text = choice.text
                        text.pieces.append(content)
                        if len(text.pieces) >= _BLOCK:
                            text.compact()
                        if self._emit:
                            events.append(content_delta(index, content))
                    else:
                        self._add_content(choice, content, False, events)
            elif type(delta.get("tool_calls")) is list and (
                size == 1 or (size == 2 and choice.role is not None and "role" in delta)
            ):
                # Tool-call fragments alone, or with the role Vertex repeats on every chunk.
                for fragment in delta["tool_calls"]:
                    self._apply_tool_call(choice, fragment, events)
            else:
                self._apply_delta(choice, delta, events)
        logprobs = raw.get("logprobs")
        if logprobs is not None:
            self._apply_logprobs(choice, logprobs)
        if not _CHOICE_KNOWN.issuperset(raw):
            # Azure content_filter_results, OpenRouter native_finish_reason, Together seed, ...
            merge_into(choice.extra, {k: v for k, v in raw.items() if k not in _CHOICE_KNOWN})
        finish = raw.get("finish_reason")
        if finish is not None:
            if not isinstance(finish, str):
                raise _Malformed("`finish_reason` must be a string")
            # SPEC 8: set once; a repeat (OpenRouter sends `length` twice) is not an error. Gemini
            # may say `stop` after tool calls: kept as sent.
            if choice.finish_reason is None and finish:
                choice.finish_reason = finish
                self._finish_choice(choice, events)

    def _apply_delta(self, choice: _Choice, delta: dict[str, Any], events: list[Event]) -> None:
        """Every field of a delta, each by its own rule. Keys are visited in the order sent, except
        ``extra_content``, read first because its Gemini ``thought`` flag decides what the
        content of the same delta is."""
        thought = False
        extra_content = delta.get("extra_content")
        if extra_content is not None:
            if type(extra_content) is not dict:
                raise _Malformed("`delta.extra_content` must be an object")
            thought = self._merge_message_extra_content(choice, extra_content)
        unknown = None
        for key, value in delta.items():
            if value is None or key == "extra_content":
                continue
            if key == "content":
                if type(value) is str:
                    choice.content_seen = True
                    if value:
                        self._add_content(choice, value, thought, events)
                elif type(value) is list:
                    choice.content_seen = True
                    self._add_content_parts(choice, value, thought, events)
                else:
                    raise _Malformed("`delta.content` must be a string or a list of parts")
            elif key == "tool_calls":
                if type(value) is not list:
                    raise _Malformed("`delta.tool_calls` must be a list")
                for fragment in value:
                    self._apply_tool_call(choice, fragment, events)
            elif key == "role":
                if type(value) is not str:
                    raise _Malformed("`delta.role` must be a string")
                # Vertex repeats `role` on every chunk: set once (openai-python appends it).
                if choice.role is None and value:
                    choice.role = value
            elif key == "reasoning_content" or key == "reasoning":
                # DeepSeek/Qwen/vLLM/xAI send `reasoning_content`, OpenRouter/Groq `reasoning`; some
                # vLLM versions send both with the same text, which must not be doubled.
                if type(value) is not str:
                    raise _Malformed(f"`delta.{key}` must be a string")
                if value and (key == "reasoning_content" or value != delta.get("reasoning_content")):
                    self._add_reasoning(choice, value, events)
            elif key == "refusal":
                if type(value) is not str:
                    raise _Malformed("`delta.refusal` must be a string")
                if choice.refusal is None:
                    choice.refusal = []
                if value:
                    choice.refusal.append(value)
                    events.append(RefusalDelta(choice=choice.index, delta=value))
            elif key == "audio":
                self._apply_audio(choice, value)
            elif key == "reasoning_details":
                self._apply_reasoning_details(choice, value)
            else:
                if unknown is None:
                    unknown = {}
                unknown[key] = value
        if unknown is not None:
            merge_into(choice.delta_extra, unknown)

    def _merge_message_extra_content(self, choice: _Choice, extra: dict[str, Any]) -> bool:
        """Merge delta-level ``extra_content`` into the message's; return the chunk's thought flag.

        The Gemini API flags each thought chunk with ``extra_content.google.thought: true``. The
        flag describes that chunk, not the message, so it is read and not merged (a message sent
        back with ``thought: true`` would claim to be a thought).
        """
        thought = False
        for vendor in ("google", "vertex"):
            part = extra.get(vendor)
            if isinstance(part, dict) and "thought" in part:
                thought = thought or part["thought"] is True
                rest = {k: v for k, v in part.items() if k != "thought"}
                extra = {k: v for k, v in extra.items() if k != vendor}
                if rest:
                    extra[vendor] = rest
        if not extra:
            return thought
        if choice.extra_content is None:
            choice.extra_content = {}
        merge_into(choice.extra_content, extra)
        return thought

    def _add_content(self, choice: _Choice, text: str, thought: bool, events: list[Event]) -> None:
        splitter = choice.splitter
        if splitter is not None and not thought and not splitter.held and "<" not in text:
            # No tag can start in this piece and none is pending: it all goes where we are.
            if splitter.inside:
                self._add_reasoning(choice, text, events)
            else:
                self._add_answer(choice, text, events)
            return
        if thought and splitter is None:
            # The `thought: true` flag is authoritative (SPEC 4): flagged text is thinking even when
            # no tag was configured, and the Gemini API's tag is `thought`.
            splitter = choice.splitter = ThinkTagSplitter("thought")
        if splitter is None:
            self._add_answer(choice, text, events)
            return
        for kind, piece in splitter.feed(text):
            if kind == TAG:
                continue
            if kind == THINKING or thought:
                self._add_reasoning(choice, piece, events)
            else:
                self._add_answer(choice, piece, events)

    def _add_answer(self, choice: _Choice, text: str, events: list[Event]) -> None:
        choice.text.add(text)
        if self._emit:
            events.append(content_delta(choice.index, text))

    def _add_content_parts(
        self, choice: _Choice, parts: list[Any], thought: bool, events: list[Event]
    ) -> None:
        """Content sent as typed parts (Mistral). Text parts append like string content; Mistral's
        ``thinking`` parts are thinking text; any other part is kept, in order (SPEC 3)."""
        for part in parts:
            if not isinstance(part, dict):
                raise _Malformed("each content part must be an object")
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                extra = {k: v for k, v in part.items() if k not in ("type", "text")}
                if extra:
                    # A text part with its own fields (e.g. `extra_content`): keep them on the part.
                    if choice.parts is None:
                        choice.parts = []
                    if choice.run_extra is None:
                        choice.run_extra = {}
                    merge_into(choice.run_extra, extra)
                if part["text"]:
                    self._add_content(choice, part["text"], thought, events)
            elif kind == "thinking":
                for text in _thinking_texts(part.get("thinking")):
                    self._add_reasoning(choice, text, events)
            else:
                if choice.parts is None:
                    choice.parts = []
                choice.close_text_run()
                choice.parts.append(copy_json(part))

    def _add_reasoning(self, choice: _Choice, text: str, events: list[Event]) -> None:
        if choice.reasoning is None:
            choice.reasoning = _Pieces()
        if text:
            choice.reasoning.add(text)
            if self._emit:
                events.append(reasoning_delta(choice.index, text))

    def _apply_tool_call(self, choice: _Choice, fragment: Any, events: list[Event]) -> None:
        if type(fragment) is not dict:
            raise _Malformed("each entry of `delta.tool_calls` must be an object")
        if len(fragment) == 2:
            # The hot path: OpenAI's `{"index": i, "function": {"arguments": "..."}}` for a known call.
            function = fragment.get("function")
            index = fragment.get("index")
            if type(function) is dict and len(function) == 1 and type(index) is int:
                arguments = function.get("arguments")
                call = choice.by_index.get(index)
                if call is not None and type(arguments) is str:
                    choice.last_call = call
                    if arguments:
                        pieces = call.args.pieces
                        pieces.append(arguments)
                        if len(pieces) >= _BLOCK:
                            call.args.compact()
                        if self._emit:
                            events.append(arguments_delta(choice.index, call.position, arguments))
                    return
        call_id = fragment.get("id")
        index = fragment.get("index")
        if call_id is not None and type(call_id) is not str:
            raise _Malformed("`tool_calls[].id` must be a string")
        if index is not None and type(index) is not int:
            raise _Malformed("`tool_calls[].index` must be an integer")

        # Identity (SPEC 5): by id first (Vertex repeats the id but shifts `index` for the same call,
        # and may put several parallel calls at index 0); then by the call last seen at this index
        # (OpenAI sends the id on the first fragment only); then the most recent call (Gemini's
        # metadata-only trailing fragment carries neither).
        if call_id:
            call = choice.by_id.get(call_id)
        elif index is not None:
            call = choice.by_index.get(index)
        else:
            call = choice.last_call
        started = call is None
        if call is None:
            call = _Call(len(choice.calls))
            choice.calls.append(call)
        if call_id and call.id is None:
            call.id = call_id
            choice.by_id[call_id] = call
        if index is not None:
            choice.by_index[index] = call
        choice.last_call = call

        arguments = None
        function = fragment.get("function")
        if function is not None:
            if type(function) is not dict:
                raise _Malformed("`tool_calls[].function` must be an object")
            name = function.get("name")
            if name is not None and name != call.name:
                if type(name) is not str:
                    raise _Malformed("`tool_calls[].function.name` must be a string")
                if not call.name:
                    call.name = name or None
                elif name and not call_id:
                    # A name streamed in pieces without an id (older OpenAI-compatible servers).
                    call.name += name
                # Otherwise the server repeated the name (Vertex sends it on every fragment;
                # openai-python, pydantic-ai and LangChain make `get_weatherget_weather` of it), or
                # sent a different one under the same id: the first is kept.
            arguments = function.get("arguments")
            if arguments is not None:
                if type(arguments) is not str:
                    raise _Malformed("`tool_calls[].function.arguments` must be a string")
                if arguments:
                    call.args.add(arguments)
            if len(function) > (name is not None) + (arguments is not None):
                merge_into(
                    call.function_extra, {k: v for k, v in function.items() if k not in _FUNCTION_KNOWN}
                )

        # Vertex repeats `type` on every fragment: that alone needs no more work.
        kind = fragment.get("type")
        repeat = kind is not None and kind == call.type
        if len(fragment) > (call_id is not None) + (index is not None) + (function is not None) + repeat:
            self._apply_tool_call_rest(call, fragment)

        if started:
            events.append(
                ToolCallStarted(choice=choice.index, call=call.position, id=call.id, name=call.name)
            )
        if arguments and self._emit:
            events.append(arguments_delta(choice.index, call.position, arguments))

    @staticmethod
    def _apply_tool_call_rest(call: _Call, fragment: dict[str, Any]) -> None:
        """The fields of a tool-call fragment besides id, index and function."""
        kind = fragment.get("type")
        if kind is not None:
            if type(kind) is not str:
                raise _Malformed("`tool_calls[].type` must be a string")
            if call.type is None and kind:
                call.type = kind  # set once; Vertex repeats it on every fragment
        extra_content = fragment.get("extra_content")
        if extra_content is not None:
            if type(extra_content) is not dict:
                raise _Malformed("`tool_calls[].extra_content` must be an object")
            # Gemini signs the first call of a parallel set on its first fragment, or on a trailing
            # metadata-only fragment; whichever carries it, it lands on this call (SPEC 6).
            if call.extra_content is None:
                call.extra_content = {}
            merge_into(call.extra_content, extra_content)
        if not _CALL_KNOWN.issuperset(fragment):
            merge_into(call.extra, {k: v for k, v in fragment.items() if k not in _CALL_KNOWN})

    def _apply_logprobs(self, choice: _Choice, logprobs: Any) -> None:
        if not isinstance(logprobs, dict):
            raise _Malformed("`logprobs` must be an object")
        if choice.logprobs is None:
            choice.logprobs = {}
        held = choice.logprobs
        for key, value in logprobs.items():
            if key in ("content", "refusal"):
                # Token lists are concatenated in order (SPEC 3).
                if value is None:
                    held.setdefault(key, None)
                    continue
                if not isinstance(value, list):
                    raise _Malformed(f"`logprobs.{key}` must be a list")
                tokens = held.get(key)
                if tokens is None:
                    held[key] = list(value)
                else:
                    tokens.extend(value)
            else:
                merge_into(held, {key: value})

    def _apply_audio(self, choice: _Choice, audio: Any) -> None:
        """Audio output, and Gemini image output, which arrives in ``audio.data`` (SPEC 7).

        ``data`` is base64 text in pieces: appended. ``transcript`` is appended too: OpenAI streams
        the transcript in pieces the way it streams content. ``id`` and ``expires_at`` are set once:
        never concatenated, never summed.
        """
        if not isinstance(audio, dict):
            raise _Malformed("`delta.audio` must be an object")
        if choice.audio_fields is None:
            choice.audio_fields = {}
        fields = choice.audio_fields
        for key in ("data", "transcript"):
            value = audio.get(key)
            if value is not None:
                if not isinstance(value, str):
                    raise _Malformed(f"`delta.audio.{key}` must be a string")
                (choice.audio_data if key == "data" else choice.audio_transcript).append(value)
                fields.setdefault(key, True)
        for key in ("id", "expires_at"):
            value = audio.get(key)
            if value is not None and value != "" and fields.get(key) is None:
                fields[key] = value
        extra_content = audio.get("extra_content")
        if extra_content is not None:
            if not isinstance(extra_content, dict):
                raise _Malformed("`delta.audio.extra_content` must be an object")
            merge_into(fields.setdefault("extra_content", {}), extra_content)
        if not _AUDIO_KNOWN.issuperset(audio):
            merge_into(choice.audio_extra, {k: v for k, v in audio.items() if k not in _AUDIO_KNOWN})

    def _apply_reasoning_details(self, choice: _Choice, details: Any) -> None:
        """OpenRouter ``reasoning_details``: entries kept in order; pieces of one entry (same
        ``type`` and ``index``) merge, their ``text``/``summary`` appended. These carry Gemini
        signatures as ``reasoning.encrypted`` entries behind that gateway (SPEC 3)."""
        if not isinstance(details, list):
            raise _Malformed("`delta.reasoning_details` must be a list")
        for entry in details:
            if not isinstance(entry, dict) or "index" not in entry:
                choice.details.append(copy_json(entry))
                continue
            key = (entry.get("type"), entry.get("index"))
            try:
                detail = choice.details_by_key.get(key)
            except TypeError:  # an unhashable index: keep the entry as it came
                choice.details.append(copy_json(entry))
                continue
            if detail is None:
                detail = choice.details_by_key[key] = _Detail()
                choice.details.append(detail)
            for name, value in entry.items():
                if name in _DETAIL_TEXT_FIELDS and isinstance(value, str):
                    detail.pieces.setdefault(name, []).append(value)
                else:
                    merge_into(detail.fields, {name: value})

    def _flush_thinking(self, choice: _Choice, events: list[Event]) -> None:
        splitter = choice.splitter
        if splitter is None:
            return
        for kind, piece in splitter.flush():
            if kind == THINKING:
                self._add_reasoning(choice, piece, events)
            else:
                self._add_answer(choice, piece, events)
        # An open thinking block at the end is kept as thinking and reported (SPEC 4).
        choice.unterminated = splitter.inside

    def _finish_choice(self, choice: _Choice, events: list[Event]) -> None:
        index = choice.index
        self._flush_thinking(choice, events)
        if not self._emit:
            for call in choice.calls:
                call.check(parse=False)  # the arguments are checked as JSON when the call ends (SPEC 5)
            return
        if choice.content_seen:
            events.append(ContentDone(choice=index, content=choice.all_answer_text()))
        if choice.reasoning is not None:
            events.append(
                ReasoningDone(
                    choice=index, reasoning=choice.reasoning.value(), unterminated=choice.unterminated
                )
            )
        if choice.refusal is not None:
            events.append(RefusalDone(choice=index, refusal="".join(choice.refusal)))
        for call in choice.calls:
            arguments, parsed, error = call.check()
            events.append(
                ToolCallDone(
                    choice=index,
                    call=call.position,
                    id=call.id,
                    name=call.name,
                    arguments=arguments,
                    parsed=parsed,
                    error=error,
                    has_thought_signature=_has_signature(call.extra_content),
                )
            )
        assert choice.finish_reason is not None
        events.append(ChoiceFinished(choice=index, finish_reason=choice.finish_reason))

    # ---------------------------------------------------------------- failures

    def _require_open(self) -> None:
        if self._state is State.OPEN:
            return
        if self._error is not None:
            raise AssemblerStateError(
                f"the stream already failed ({type(self._error).__name__}: {self._error.message}); "
                "start a new StreamAssembler",
                cause=self._error,
                partial=self._error.partial,
            )
        raise AssemblerStateError("the stream is closed; start a new StreamAssembler", partial=self._build())

    def _fail(self, error: ChunkwiseError, events: list[Event]) -> NoReturn:
        """Record the error with the partial result and this call's events, enter FAILED, raise."""
        error.partial = self._build()
        error.events = list(events)
        self._state = State.FAILED
        self._error = error
        raise error

    def _fail_malformed(self, exc: _Malformed, raw: Any, events: list[Event]) -> NoReturn:
        offset = exc.offset if isinstance(exc, _MalformedJSON) else None
        if isinstance(raw, (bytes, bytearray, memoryview)):
            raw_text = bytes(raw).decode("utf-8", "replace")
        elif isinstance(raw, str):
            raw_text = raw
        else:
            try:
                raw_text = repr(raw)
            except RecursionError:
                raw_text = f"<a {type(raw).__name__} nested too deeply to show>"
        self._fail(
            MalformedChunkError(
                f"malformed chunk #{self._position}: {exc}",
                position=self._position,
                raw=raw_text,
                offset=offset,
            ),
            events,
        )

    def _fail_utf8(self, exc: UnicodeDecodeError, events: list[Event]) -> NoReturn:
        self._fail(
            MalformedChunkError(
                f"the stream is not valid UTF-8: {exc.reason} at byte {exc.start} of a piece",
                position=self._position,
                raw=exc.object[max(0, exc.start - 40) : exc.end + 40].decode("utf-8", "replace"),
            ),
            events,
        )

    def _raise_server_error(self, body: Any, events: list[Event]) -> NoReturn:
        code, status, message = _describe_error(body)
        events.append(ServerErrorReceived(body=body, code=code, message=message))
        text = "server error"
        if code is not None:
            text += f" {code}"
        if status:
            text += f" {status}"
        self._fail(ServerError(f"{text}: {message}", body=body, code=code, status=status), events)

    # ---------------------------------------------------------------- building the result

    def _sorted_choices(self) -> list[_Choice]:
        return [self._choices[i] for i in sorted(self._choices)]

    def _build(self, detach: bool = False) -> ChatCompletion:
        """The result model, built from the merged state.

        ``detach`` copies every mutable value, for a ``snapshot`` taken while the stream may still
        change. The final completion (and an error's partial) is built once the assembler takes no
        more input, so it can share the state it is built from.
        """
        cp: Callable[[Any], Any] = copy_json if detach else _same
        envelope = self._envelope
        choices = [self._build_choice(c, cp) for c in self._sorted_choices()]
        usage = None
        if self._usage is not None:
            counts = {k: self._usage.get(k) for k in _USAGE_FIELDS}
            usage = construct(
                Usage, counts, cp({k: v for k, v in self._usage.items() if k not in _USAGE_FIELDS})
            )
        return construct(
            ChatCompletion,
            {
                "id": envelope.get("id"),
                "object": "chat.completion",
                "created": envelope.get("created"),
                "model": envelope.get("model"),
                "system_fingerprint": envelope.get("system_fingerprint"),
                "service_tier": envelope.get("service_tier"),
                "choices": choices,
                "usage": usage,
                "done_received": self._done,
            },
            cp(self._extra),
        )

    def _build_choice(self, choice: _Choice, cp: Callable[[Any], Any]) -> Choice:
        tool_calls = None
        if choice.calls:
            tool_calls = []
            for call in choice.calls:
                arguments, _, error = call.check(parse=False)
                function = construct(
                    FunctionCall, {"name": call.name, "arguments": arguments}, cp(call.function_extra)
                )
                fields = {
                    "id": call.id,
                    "type": call.type or "function",
                    "function": function,
                    "extra_content": cp(call.extra_content),
                    "arguments_error": error,
                }
                tool_calls.append(construct(ToolCall, fields, cp(call.extra)))
        audio = None
        if choice.audio_fields is not None:
            held = choice.audio_fields
            fields = {
                "id": held.get("id"),
                "data": "".join(choice.audio_data) if "data" in held else None,
                "expires_at": held.get("expires_at"),
                "transcript": "".join(choice.audio_transcript) if "transcript" in held else None,
                "extra_content": cp(held.get("extra_content")),
            }
            audio = construct(Audio, fields, cp(choice.audio_extra))
        message_extra = cp(choice.delta_extra)
        if choice.details:
            message_extra = dict(message_extra)
            message_extra["reasoning_details"] = [
                d.build() if isinstance(d, _Detail) else copy_json(d) for d in choice.details
            ]
        message = construct(
            Message,
            {
                "role": choice.role or "assistant",
                "content": choice.content_value(),
                "refusal": "".join(choice.refusal) if choice.refusal is not None else None,
                "reasoning_content": choice.reasoning.value() if choice.reasoning is not None else None,
                "tool_calls": tool_calls,
                "audio": audio,
                "extra_content": cp(choice.extra_content),
                "thinking_unterminated": choice.unterminated,
            },
            message_extra,
        )
        logprobs = None
        if choice.logprobs is not None:
            held = choice.logprobs
            logprobs = construct(
                ChoiceLogprobs,
                {"content": cp(held.get("content")), "refusal": cp(held.get("refusal"))},
                cp({k: v for k, v in held.items() if k not in ("content", "refusal")}),
            )
        return construct(
            Choice,
            {
                "index": choice.index,
                "message": message,
                "finish_reason": choice.finish_reason,
                "logprobs": logprobs,
            },
            cp(choice.extra),
        )


def _same(value: Any) -> Any:
    return value


class _MalformedJSON(_Malformed):
    def __init__(self, message: str, offset: int | None) -> None:
        super().__init__(message)
        self.offset = offset


def _thinking_texts(value: Any) -> list[str]:
    """Text inside a Mistral ``thinking`` part: a string, or a list of ``{"type": "text"}`` parts."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def _has_signature(extra: dict[str, Any] | None) -> bool:
    if not extra:
        return False
    return any(
        isinstance(extra.get(v), dict) and bool(extra[v].get("thought_signature"))
        for v in ("google", "vertex")
    )


def _is_error_body(value: Any) -> bool:
    """``{"error": {...}}`` or Gemini's ``[{"error": {...}}]``."""
    if isinstance(value, dict):
        return bool(value.get("error"))
    if isinstance(value, list) and value:
        return all(isinstance(v, dict) and bool(v.get("error")) for v in value)
    return False


def _describe_error(body: Any) -> tuple[Any, str | None, str]:
    """The server's code, status and message, from whichever error shape it sent."""
    error: Any = body
    if isinstance(error, list) and error:
        error = error[0]
    if isinstance(error, dict) and "error" in error:
        error = error["error"]
    if isinstance(error, dict):
        code = error.get("code")
        status = error.get("status")
        message = error.get("message")
        return (
            code if isinstance(code, (int, str)) and not isinstance(code, bool) else None,
            status if isinstance(status, str) else None,
            message if isinstance(message, str) and message else json.dumps(error, default=str)[:500],
        )
    if isinstance(error, str):
        return None, None, error.strip()[:500] or "(empty error)"
    return None, None, json.dumps(error, default=str)[:500]


def assemble(
    source: bytes | bytearray | str | Iterable[Any],
    *,
    thought_tag: str | None = None,
    require_done: bool = False,
) -> ChatCompletion:
    """Assemble a whole stream at once.

    ``source`` is the raw SSE body (bytes or text) or an iterable of pieces: bytes pieces are SSE
    bytes cut anywhere; anything else is a chunk as ``StreamAssembler.feed`` takes it.
    """
    assembler = StreamAssembler(thought_tag=thought_tag, require_done=require_done, emit_events=False)
    if isinstance(source, str):
        source = source.encode("utf-8")
    if isinstance(source, (bytes, bytearray)):
        assembler.feed_bytes(source)
    elif isinstance(source, Mapping):
        assembler.feed(source)  # one chunk, not an iterable of its keys
    else:
        assembler._feed_many(source)
    assembler.close()
    return assembler.completion
