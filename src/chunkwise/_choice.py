"""Everything received for one choice, and every per-field merge rule.

One ``ChoiceState`` per choice ``index`` (choice 1 may arrive before choice 0). Its methods take one
piece of a chunk each and merge it by the rule of that field. State is plain lists and dicts while
the stream runs; ``_build`` turns it into the result models once. Events go to ``out`` as each
piece is merged (``out`` is None when the caller wants no events).

The rules, one line each (field: rule | the quirk that forces it | the test that pins it;
§ numbers are sections of docs/behaviour.md, tests are in tests/test_spec_rules.py unless named):

=====================================  ==========================================================
``delta.role``                         set once; a repeat is not an error | Vertex repeats it on
                                       every chunk | test_3_role_repeated_on_every_chunk_set_once
``delta.content`` (text)               appended; with a thought tag, split into thinking/answer,
                                       tags held back only while they may still begin | Vertex
                                       ``thought_tag_marker``, DeepSeek-R1 | test_4_*
``delta.content`` (parts)              text parts append, ``thinking`` parts are thinking, other
                                       parts kept in order | Mistral | test_3_content_as_typed_parts
``extra_content.google.thought``       flagged text is thinking, its ``<thought>`` tags removed,
                                       whatever tag is configured; the flag is not merged | Gemini
                                       API ``include_thoughts`` | test_10_thought_flag_wins_over_*
``delta.reasoning_content/reasoning``  appended as thinking; both with the same text count once |
                                       DeepSeek/vLLM vs OpenRouter/Groq | test_3_reasoning_*
``delta.reasoning_details``            entries kept in order, pieces of one (type, index) merged;
                                       ``reasoning.text`` fills thinking when the delta has no
                                       other thinking text | OpenRouter, Snowflake | test_10_*
``delta.refusal``                      appended apart from content; ``null``/"" stay null | OpenAI
                                       | test_3_refusal_*, test_10_nulls_stay_null
``delta.tool_calls``                   identity by id, then index, then the most recent call; a
                                       whole call without id/index after a finished one opens a new
                                       call; id/name/type set once; arguments appended | Vertex,
                                       Gemini API, OpenAI | test_5_*
``tool_calls[].custom``                ``input`` appended like arguments, never judged as JSON, no
                                       ``function`` invented | OpenAI custom tools | test_10_custom_*
``delta.function_call``                name set once, arguments appended | pre-tools OpenAI API |
                                       test_10_legacy_function_call_*
``delta.audio``                        ``data``/``transcript`` appended, ``id``/``expires_at`` set
                                       once | Gemini image output, OpenAI audio | test_7_*
``delta.annotations`` and any other    list-valued fields under ``delta`` are items streamed in
list under ``delta``                   parts: concatenated in arrival order; metadata, so they still
                                       merge after the finish | OpenAI url citations, OpenRouter
                                       ``images`` | test_10_lists_under_delta_*
other ``delta`` fields                 merged by ``_merge`` (last non-empty wins) | §2
``delta.extra_content``                merged into the message's (signatures) | Gemini | test_6_*
``choices[].logprobs``                 token lists concatenated; ``null`` stays null | OpenAI |
                                       test_3_logprobs_*
``obfuscation``                        dropped at chunk, choice and delta level: random padding
                                       per event, not the answer | OpenAI | test_10_obfuscation_*
``finish_reason``                      set once; then metadata still merges, but text, thinking,
                                       calls or audio for the finished choice fail the stream as
                                       malformed (never merged, never dropped) | Cerebras log with
                                       two responses | test_11_*
=====================================  ==========================================================
"""

from __future__ import annotations

from typing import Any

from ._events import (
    ChoiceFinished,
    ContentDone,
    Event,
    FunctionCallArgumentsDelta,
    FunctionCallDone,
    FunctionCallStarted,
    ReasoningDone,
    RefusalDelta,
    RefusalDone,
    ToolCallDone,
    ToolCallStarted,
    arguments_delta,
    content_delta,
    reasoning_delta,
)
from ._merge import Unsafe, merge_into, safe_json
from ._payloads import UNPARSED, Malformed, parse_arguments
from ._text import BLOCK, Pieces, Tally, clean
from ._thinking import TAG, THINKING, ThinkTagSplitter

__all__ = ["Call", "ChoiceState", "Limits"]

_CHOICE_KNOWN = frozenset(("index", "delta", "finish_reason", "logprobs", "obfuscation"))
_CALL_KNOWN = frozenset(("id", "index", "type", "function", "custom", "extra_content"))
_FUNCTION_KNOWN = frozenset(("name", "arguments"))
_CUSTOM_KNOWN = frozenset(("name", "input"))
_AUDIO_KNOWN = frozenset(("id", "data", "expires_at", "transcript", "extra_content"))
# OpenRouter `reasoning_details` entries stream their text in pieces under one (type, index).
_DETAIL_TEXT_FIELDS = frozenset(("text", "summary"))
_INT64 = 2**63


class Limits:
    """What one stream may hold, and the counters its rooms share (set by ``StreamAssembler``)."""

    __slots__ = ("max_depth", "max_tool_calls", "tally")

    def __init__(self, max_depth: int, max_tool_calls: int) -> None:
        self.max_depth = max_depth
        self.max_tool_calls = max_tool_calls
        self.tally = Tally()


def small_int(value: Any) -> bool:
    """An integer field the result can hold (an index, a timestamp): not a bool, within 64 bits."""
    return type(value) is int and -_INT64 <= value < _INT64


def _string(value: Any, field: str, limits: Limits) -> str:
    """A string field (id, name, type, role, finish_reason), as valid Unicode."""
    if type(value) is not str:
        raise Malformed(f"`{field}` must be a string, not {type(value).__name__}")
    return value if value.isascii() else clean(value, limits.tally)


def _keep(value: Any, limits: Limits) -> Any:
    """A value kept as it came, checked (``safe_json``); a failure is a malformed chunk."""
    try:
        return safe_json(value, limits.max_depth, limits.tally)
    except Unsafe as exc:
        raise Malformed(str(exc)) from None


def _merge(target: dict[str, Any], source: dict[str, Any], limits: Limits, whole: bool = False) -> None:
    """Merge by ``_merge``'s rule. ``whole``: ``source`` is itself a kept value (an ``extra_content``),
    so it counts as one level of nesting; otherwise it only gathers fields, each a kept value."""
    try:
        merge_into(target, source, limits.max_depth - whole, limits.tally)
    except Unsafe as exc:
        raise Malformed(str(exc)) from None


class Call:
    """One tool call (or the legacy ``function_call``) being assembled."""

    __slots__ = (
        "args",
        "checked",
        "extra",
        "extra_content",
        "function_extra",
        "id",
        "kind",
        "name",
        "position",
        "type",
    )

    def __init__(self, position: int) -> None:
        self.position = position
        self.id: str | None = None
        self.type: str | None = None
        #: "function" or "custom" once a fragment said which (``function`` or ``custom`` object).
        self.kind: str | None = None
        self.name: str | None = None
        #: Function arguments, or a custom call's free-form ``input``.
        self.args = Pieces()
        self.extra_content: dict[str, Any] | None = None
        self.extra: dict[str, Any] | None = None
        #: Unknown fields of the ``function`` (or ``custom``) object.
        self.function_extra: dict[str, Any] | None = None
        # (length of the arguments text checked, parsed value, error): JSON is parsed once per change.
        self.checked: tuple[int, Any, str | None] | None = None

    def check(self, parse: bool = True) -> tuple[str, Any, str | None]:
        """Arguments text, its parsed JSON value, and the error when it is not JSON (§5).

        Invalid JSON (a ``length`` finish, Vertex's unescaped newlines) is kept verbatim and
        reported, never replaced. A custom call's input is free-form text: never judged. With
        ``parse=False`` the text is only validated and the parsed value is ``UNPARSED``: building
        every object of a large argument value just to drop it would cost more than the answer.
        """
        text = self.args.value()
        if self.kind == "custom":
            return text, None, None
        checked = self.checked
        if checked is not None and checked[0] == len(text) and (checked[1] is not UNPARSED or not parse):
            return text, checked[1], checked[2]
        parsed, error = parse_arguments(text, parse)
        self.checked = (len(text), parsed, error)
        return text, parsed, error


class Detail:
    """One OpenRouter ``reasoning_details`` entry; its text fields arrive in pieces."""

    __slots__ = ("fields", "pieces")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.pieces: dict[str, Pieces] = {}


class ChoiceState:
    """Everything received for one choice index, merged field by field."""

    __slots__ = (
        "annotations",
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
        "flagged",
        "function_call",
        "index",
        "last_call",
        "limits",
        "logprobs",
        "parts",
        "reasoning",
        "refusal",
        "reopened",
        "role",
        "run_extra",
        "splitter",
        "text",
        "unterminated",
    )

    def __init__(self, index: int, thought_tag: str | None, limits: Limits) -> None:
        self.index = index
        self.limits = limits
        self.role: str | None = None
        # Answer text of the current text run; with `parts` None (the usual case) the whole answer.
        self.text = Pieces()
        self.content_seen = False
        # Set once a content part that is not plain text arrives (§3): the content becomes a
        # list of parts, text runs merged between them.
        self.parts: list[dict[str, Any]] | None = None
        self.run_extra: dict[str, Any] | None = None
        self.reasoning: Pieces | None = None
        self.refusal: Pieces | None = None
        self.splitter = ThinkTagSplitter(thought_tag) if thought_tag else None
        # Splits Gemini's flagged `<thought>...</thought>` block, whatever tag is configured (§4).
        self.flagged: ThinkTagSplitter | None = None
        self.unterminated = False
        self.calls: list[Call] = []
        self.by_id: dict[str, Call] = {}
        self.by_index: dict[int, Call] = {}
        self.last_call: Call | None = None
        self.function_call: Call | None = None
        self.finish_reason: str | None = None
        # Calls opened by an entry that restates the finish, while it is applied (see `apply`).
        self.reopened: list[Call] | None = None
        self.logprobs: dict[str, Any] | None = None
        self.audio_fields: dict[str, Any] | None = None
        self.audio_data: Pieces | None = None
        self.audio_transcript: Pieces | None = None
        self.audio_extra: dict[str, Any] | None = None
        self.extra_content: dict[str, Any] | None = None
        self.details: list[Detail | Any] = []
        self.details_by_key: dict[tuple[Any, Any], Detail] = {}
        self.annotations: list[Any] | None = None
        self.delta_extra: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}

    # ---------------------------------------------------------------- one entry of `choices`

    def apply(self, raw: dict[str, Any], out: list[Event] | None) -> None:
        """One entry of a chunk's ``choices``: its delta, logprobs, other fields, finish reason."""
        finish = raw.get("finish_reason")
        if self.finish_reason is not None and finish:
            # The choice finished and this entry says so again. OpenRouter (Gemini 3 parallel calls)
            # restates `finish_reason` on each chunk of its final burst, each bringing one more
            # whole call: such calls are merged, complete on arrival (§11).
            self.reopened = []
            try:
                self._apply(raw, out)
            finally:
                reopened, self.reopened = self.reopened, None
            if out is not None:
                for call in reopened:
                    out.append(self._call_done(call))
            return
        self._apply(raw, out)

    def _apply(self, raw: dict[str, Any], out: list[Event] | None) -> None:
        delta = raw.get("delta")
        if delta:
            if type(delta) is not dict:
                raise Malformed("`delta` must be an object")
            content = delta.get("content")
            size = len(delta)
            if type(content) is str and (
                size == 1 or (size == 2 and self.role is not None and "role" in delta)
            ):
                # The hot path: a text delta (with the role Vertex repeats on every chunk, already set).
                self.content_seen = True
                if content:
                    if self.splitter is None and self.flagged is None and self.finish_reason is None:
                        added = self.text.add(content, self.limits.tally)
                        if out is not None and added:
                            out.append(content_delta(self.index, added))
                    else:
                        self.add_content(content, False, out)
            elif type(delta.get("tool_calls")) is list and (
                size == 1 or (size == 2 and self.role is not None and "role" in delta)
            ):
                # Tool-call fragments alone, or with the role Vertex repeats on every chunk.
                for fragment in delta["tool_calls"]:
                    self.apply_tool_call(fragment, out)
            else:
                self.apply_delta(delta, out)
        logprobs = raw.get("logprobs")
        if logprobs is not None:
            self.apply_logprobs(logprobs)
        if not _CHOICE_KNOWN.issuperset(raw):
            # Azure content_filter_results, OpenRouter native_finish_reason, Together seed, ...
            _merge(self.extra, {k: v for k, v in raw.items() if k not in _CHOICE_KNOWN}, self.limits)
        finish = raw.get("finish_reason")
        if finish is not None:
            finish = _string(finish, "finish_reason", self.limits)
            # Set once; a repeat (OpenRouter sends `length` twice) is not an error. Gemini may say
            # `stop` after tool calls: kept as sent (§8).
            if self.finish_reason is None and finish:
                self.finish(finish, out)

    def late(self, what: str, call: Call | None = None) -> None:
        """Refuse text, thinking, a call or audio for a finished choice (§11): it is not merged into
        the finished message; the error carries the chunk, and its partial everything before. The
        one exception: a call opened by an entry that restates the finish (see ``apply``)."""
        if self.finish_reason is not None and (
            self.reopened is None or call is None or call not in self.reopened
        ):
            raise Malformed(
                f"choice {self.index} already finished ({self.finish_reason}) and this chunk brings "
                f"{what} for it (several responses back to back in one stream?)"
            )

    def apply_delta(self, delta: dict[str, Any], out: list[Event] | None) -> None:
        """Every field of a delta, each by its own rule. Keys are visited in the order sent, except
        ``extra_content``, read first because its Gemini ``thought`` flag decides what the
        content of the same delta is."""
        thought = False
        extra_content = delta.get("extra_content")
        if extra_content is not None:
            if type(extra_content) is not dict:
                raise Malformed("`delta.extra_content` must be an object")
            thought = self.merge_message_extra_content(extra_content)
        unknown = None
        for key, value in delta.items():
            if value is None or key == "extra_content":
                continue
            if key == "content":
                if type(value) is str:
                    self.content_seen = True
                    if value:
                        self.add_content(value, thought, out)
                elif type(value) is list:
                    self.content_seen = True
                    self.add_content_parts(value, thought, out)
                else:
                    raise Malformed("`delta.content` must be a string or a list of parts")
            elif key == "tool_calls":
                if type(value) is not list:
                    raise Malformed("`delta.tool_calls` must be a list")
                for fragment in value:
                    self.apply_tool_call(fragment, out)
            elif key == "role":
                # Vertex repeats `role` on every chunk: set once (openai-python appends it).
                role = _string(value, "delta.role", self.limits)
                if self.role is None and role:
                    self.role = role
            elif key == "reasoning_content" or key == "reasoning":
                # DeepSeek/Qwen/vLLM/xAI send `reasoning_content`, OpenRouter/Groq `reasoning`; some
                # vLLM versions send both with the same text, which must not be doubled.
                if type(value) is not str:
                    raise Malformed(f"`delta.{key}` must be a string")
                if value and (key == "reasoning_content" or value != delta.get("reasoning_content")):
                    self.add_reasoning(value, out)
            elif key == "refusal":
                if type(value) is not str:
                    raise Malformed("`delta.refusal` must be a string")
                if value:  # "" is no refusal: a server's null or "" stays null (§10)
                    self.add_refusal(value, out)
            elif key == "function_call":
                self.apply_function_call(value, out)
            elif key == "audio":
                self.apply_audio(value)
            elif key == "reasoning_details":
                # Thinking text in `reasoning.text` entries counts only when this delta carries no
                # other thinking text: OpenRouter sends the same text in `reasoning` and here.
                self.apply_reasoning_details(
                    value, not (delta.get("reasoning") or delta.get("reasoning_content")), out
                )
            elif key == "obfuscation":
                continue  # OpenAI's random padding per event: not part of the answer (§10)
            elif type(value) is list:
                # A list under `delta` holds items streamed in parts (`annotations`, OpenRouter
                # `images`): each chunk brings new ones, so lists concatenate in arrival order.
                # (Lists elsewhere, e.g. Perplexity's envelope `citations`, are restated state.)
                items = _keep(value, self.limits)
                if key == "annotations":
                    if self.annotations is None:
                        self.annotations = []
                    self.annotations.extend(items)
                else:
                    held = self.delta_extra.get(key)
                    if type(held) is list:
                        held.extend(items)
                    else:
                        self.delta_extra[_string(key, "delta key", self.limits)] = items
            else:
                if unknown is None:
                    unknown = {}
                unknown[key] = value
        if unknown is not None:
            _merge(self.delta_extra, unknown, self.limits)

    # ---------------------------------------------------------------- text

    def merge_message_extra_content(self, extra: dict[str, Any]) -> bool:
        """Merge delta-level ``extra_content`` into the message's; return the chunk's thought flag.

        The Gemini API flags each thought chunk with ``extra_content.google.thought: true``. The
        flag describes that chunk, not the message, so it is read and not merged (a message sent
        back with ``thought: true`` would claim to be a thought).
        """
        thought = False
        for vendor in ("google", "vertex"):
            part = extra.get(vendor)
            if type(part) is dict and "thought" in part:
                thought = thought or part["thought"] is True
                rest = {k: v for k, v in part.items() if k != "thought"}
                extra = {k: v for k, v in extra.items() if k != vendor}
                if rest:
                    extra[vendor] = rest
        if extra:
            if self.extra_content is None:
                self.extra_content = {}
            _merge(self.extra_content, extra, self.limits, whole=True)
        return thought

    def add_content(self, text: str, thought: bool, out: list[Event] | None) -> None:
        """Content text: thinking or answer, by the thought flag and the configured tag (§4)."""
        self.late("content")
        flagged = self.flagged
        if thought and flagged is None:
            flagged = self.flagged = ThinkTagSplitter("thought")
        if flagged is not None and (thought or flagged.inside or flagged.held):
            # Gemini API: flagged chunks are thinking, inside `<thought>...`; the `</thought>` opens
            # the first unflagged chunk. The flag is authoritative, so this block is split by its
            # own tag whatever tag is configured, and its tags never reach either text.
            for kind, piece in flagged.feed(text):
                if kind == TAG:
                    continue
                if kind == THINKING or thought:
                    self.add_reasoning(piece, out)
                else:
                    self.add_tagged(piece, out)
            return
        self.add_tagged(text, out)

    def add_tagged(self, text: str, out: list[Event] | None) -> None:
        """Unflagged content, split by the configured tag when there is one."""
        splitter = self.splitter
        if splitter is None:
            self.add_answer(text, out)
        elif not splitter.held and "<" not in text:
            # No tag can start in this piece and none is pending: it all goes where we are.
            if splitter.inside:
                self.add_reasoning(text, out)
            else:
                self.add_answer(text, out)
        else:
            for kind, piece in splitter.feed(text):
                if kind == THINKING:
                    self.add_reasoning(piece, out)
                elif kind != TAG:
                    self.add_answer(piece, out)

    def add_answer(self, text: str, out: list[Event] | None) -> None:
        added = self.text.add(text, self.limits.tally)
        if out is not None and added:
            out.append(content_delta(self.index, added))

    def add_reasoning(self, text: str, out: list[Event] | None) -> None:
        self.late("thinking")
        if self.reasoning is None:
            self.reasoning = Pieces()
        if text:
            added = self.reasoning.add(text, self.limits.tally)
            if out is not None and added:
                out.append(reasoning_delta(self.index, added))

    def add_refusal(self, text: str, out: list[Event] | None) -> None:
        self.late("refusal text")
        if self.refusal is None:
            self.refusal = Pieces()
        added = self.refusal.add(text, self.limits.tally)
        if out is not None and added:
            out.append(RefusalDelta(choice=self.index, delta=added))

    def add_content_parts(self, parts: list[Any], thought: bool, out: list[Event] | None) -> None:
        """Content sent as typed parts (Mistral). Text parts append like string content; Mistral's
        ``thinking`` parts are thinking text; any other part is kept, in order (§3)."""
        for part in parts:
            if type(part) is not dict:
                raise Malformed("each content part must be an object")
            kind = part.get("type")
            text = part.get("text")
            if kind == "text" and type(text) is str:
                extra = {k: v for k, v in part.items() if k not in ("type", "text")}
                if extra:
                    # A text part with its own fields (e.g. `extra_content`): keep them on the part.
                    if self.parts is None:
                        self.parts = []
                    if self.run_extra is None:
                        self.run_extra = {}
                    _merge(self.run_extra, extra, self.limits)
                if text:
                    self.add_content(text, thought, out)
            elif kind == "thinking":
                for piece in _thinking_texts(part.get("thinking")):
                    self.add_reasoning(piece, out)
            else:
                self.late("a content part")
                if self.parts is None:
                    self.parts = []
                self.close_text_run()
                self.parts.append(_keep(part, self.limits))

    def close_text_run(self) -> None:
        assert self.parts is not None
        run = self.text.value()
        if run or self.run_extra:
            self.parts.append({"type": "text", "text": run, **(self.run_extra or {})})
        self.text = Pieces()
        self.run_extra = None

    # ---------------------------------------------------------------- tool calls

    def apply_tool_call(self, fragment: Any, out: list[Event] | None) -> None:
        if type(fragment) is not dict:
            raise Malformed("each entry of `delta.tool_calls` must be an object")
        if len(fragment) == 2:
            # The hot path: OpenAI's `{"index": i, "function": {"arguments": "..."}}` for a known call.
            function = fragment.get("function")
            index = fragment.get("index")
            if type(function) is dict and len(function) == 1 and type(index) is int:
                arguments = function.get("arguments")
                call = self.by_index.get(index)
                if call is not None and type(arguments) is str and call.kind != "custom":
                    self.last_call = call
                    if arguments:
                        if self.finish_reason is not None:
                            self.late("tool-call arguments", call)
                        args = call.args
                        if args.high or not arguments.isascii():
                            arguments = args.add(arguments, self.limits.tally)
                        else:
                            pieces = args.pieces
                            pieces.append(arguments)
                            if len(pieces) >= BLOCK:
                                args.compact()
                        if out is not None and arguments:
                            out.append(arguments_delta(self.index, call.position, arguments))
                    return
        self._apply_tool_call(fragment, out)

    def _apply_tool_call(self, fragment: dict[str, Any], out: list[Event] | None) -> None:
        call_id = fragment.get("id")
        index = fragment.get("index")
        if call_id is not None:
            call_id = _string(call_id, "tool_calls[].id", self.limits)
        if index is not None and not small_int(index):
            raise Malformed("`tool_calls[].index` must be an integer")
        function = fragment.get("function")
        custom = fragment.get("custom")
        if function is not None and type(function) is not dict:
            raise Malformed("`tool_calls[].function` must be an object")
        if custom is not None and type(custom) is not dict:
            raise Malformed("`tool_calls[].custom` must be an object")
        body = function if function is not None else custom
        name = body.get("name") if body is not None else None
        if name is not None:
            name = _string(name, "tool_calls[].function.name", self.limits)

        # Identity (§5): by id first (Vertex repeats the id but shifts `index` for the same call,
        # and may put several parallel calls at index 0); then by the call last seen at this index
        # (OpenAI sends the id on the first fragment only); then the most recent call (Gemini's
        # metadata-only trailing fragment carries neither). An empty id is no id (Gemini API 2025).
        if call_id:
            call = self.by_id.get(call_id)
            if call is None and index is not None:
                held = self.by_index.get(index)
                if held is not None and held.id is None:
                    call = held  # the call opened without an id; this is its id, not a new call
        elif index is not None:
            call = self.by_index.get(index)
        else:
            call = self.last_call
            if call is not None and name and call.name and call.args.value():
                # Gemini API: whole calls, one per fragment, with `"id": ""` and no index. A fragment
                # that names a function after the last call already has its name and arguments is
                # the next call; gluing it on would make one call of two.
                call = None
        started = call is None
        if call is None:
            if self.finish_reason is not None and self.reopened is None:
                self.late("a new tool call")
            if len(self.calls) >= self.limits.max_tool_calls:
                limit = self.limits.max_tool_calls
                raise Malformed(f"choice {self.index} has more than {limit} tool calls (max_tool_calls)")
            call = Call(len(self.calls))
            self.calls.append(call)
            if self.reopened is not None:
                self.reopened.append(call)
        if call_id and call.id is None:
            call.id = call_id
            self.by_id[call_id] = call
        if index is not None:
            self.by_index[index] = call
        self.last_call = call

        kind = "custom" if custom is not None or fragment.get("type") == "custom" else None
        if function is not None:
            kind = "function" if kind is None else "both"
        if kind is not None and kind != call.kind:
            if call.kind is not None or kind == "both":
                raise Malformed(f"tool call {call.position} is sent both as a function and as a custom call")
            call.kind = kind

        text = None
        if body is not None:
            field = "input" if body is custom else "arguments"
            # The name (§5): set once. The Vertex repeat of the same name is not appended (openai-
            # python, pydantic-ai and LangChain make `get_weatherget_weather` of it). Older servers
            # stream a name in pieces without an id: appended while the call has no arguments yet.
            # A different name under an id, or once arguments began, is a server inconsistency:
            # the first name is kept, since the arguments were written for it.
            if name and name != call.name:
                if call.name is None:
                    call.name = name
                elif not call_id and not call.args.value():
                    self.late("a tool-call name", call)
                    call.name += name
            text = body.get(field)
            if text is not None:
                if type(text) is not str:
                    where = "custom" if body is custom else "function"
                    raise Malformed(f"`tool_calls[].{where}.{field}` must be a string")
                if text:
                    self.late("tool-call arguments", call)
                    text = call.args.add(text, self.limits.tally)
            known = _CUSTOM_KNOWN if body is custom else _FUNCTION_KNOWN
            if not known.issuperset(body):
                if call.function_extra is None:
                    call.function_extra = {}
                _merge(call.function_extra, {k: v for k, v in body.items() if k not in known}, self.limits)

        kind_field = fragment.get("type")
        if kind_field is not None and kind_field != call.type:
            kind_field = _string(kind_field, "tool_calls[].type", self.limits)
            if call.type is None and kind_field:
                call.type = kind_field  # set once; Vertex repeats it on every fragment
        extra_content = fragment.get("extra_content")
        if extra_content is not None:
            if type(extra_content) is not dict:
                raise Malformed("`tool_calls[].extra_content` must be an object")
            # Gemini signs the first call of a parallel set on its first fragment, or on a trailing
            # metadata-only fragment; whichever carries it, it lands on this call (§6).
            if call.extra_content is None:
                call.extra_content = {}
            _merge(call.extra_content, extra_content, self.limits, whole=True)
        if not _CALL_KNOWN.issuperset(fragment):
            if call.extra is None:
                call.extra = {}
            _merge(call.extra, {k: v for k, v in fragment.items() if k not in _CALL_KNOWN}, self.limits)

        if out is not None:
            if started:
                out.append(
                    ToolCallStarted(
                        choice=self.index,
                        call=call.position,
                        id=call.id,
                        name=call.name,
                        call_type=_call_type(call),
                    )
                )
            if text:
                out.append(arguments_delta(self.index, call.position, text))

    def apply_function_call(self, value: Any, out: list[Event] | None) -> None:
        """The legacy ``delta.function_call`` (§10): name set once, arguments appended."""
        if type(value) is not dict:
            raise Malformed("`delta.function_call` must be an object")
        call = self.function_call
        name = value.get("name")
        arguments = value.get("arguments")
        if name is not None:
            name = _string(name, "function_call.name", self.limits)
        if arguments is not None and type(arguments) is not str:
            raise Malformed("`function_call.arguments` must be a string")
        if call is None:
            self.late("a function call")
            call = self.function_call = Call(0)
            call.kind = "function"
            if out is not None:
                out.append(FunctionCallStarted(choice=self.index, name=name or None))
        if name and call.name is None:
            call.name = name
        if arguments:
            self.late("function-call arguments")
            added = call.args.add(arguments, self.limits.tally)
            if out is not None and added:
                out.append(FunctionCallArgumentsDelta(choice=self.index, delta=added))
        rest = {k: v for k, v in value.items() if k not in _FUNCTION_KNOWN}
        if rest:
            if call.function_extra is None:
                call.function_extra = {}
            _merge(call.function_extra, rest, self.limits)

    # ---------------------------------------------------------------- other fields

    def apply_logprobs(self, logprobs: Any) -> None:
        if type(logprobs) is not dict:
            raise Malformed("`logprobs` must be an object")
        if self.logprobs is None:
            self.logprobs = {}
        held = self.logprobs
        for key, value in logprobs.items():
            if key in ("content", "refusal"):
                # Token lists are concatenated in order (§3); a null list stays null.
                if value is None:
                    held.setdefault(key, None)
                    continue
                if type(value) is not list:
                    raise Malformed(f"`logprobs.{key}` must be a list")
                if value:
                    self.late("logprobs")
                tokens = held.get(key)
                if tokens is None:
                    held[key] = _keep(value, self.limits)
                else:
                    tokens.extend(_keep(value, self.limits))
            else:
                _merge(held, {key: value}, self.limits)

    def apply_audio(self, audio: Any) -> None:
        """Audio output, and Gemini image output, which arrives in ``audio.data`` (§7).

        ``data`` is base64 text in pieces: appended. ``transcript`` is appended too: OpenAI streams
        the transcript in pieces the way it streams content. ``id`` and ``expires_at`` are set once:
        never concatenated, never summed.
        """
        if type(audio) is not dict:
            raise Malformed("`delta.audio` must be an object")
        if self.audio_fields is None:
            self.audio_fields = {}
        fields = self.audio_fields
        tally = self.limits.tally
        for key in ("data", "transcript"):
            value = audio.get(key)
            if value is not None:
                if type(value) is not str:
                    raise Malformed(f"`delta.audio.{key}` must be a string")
                if value:
                    self.late("audio")
                if key == "data":
                    if self.audio_data is None:
                        self.audio_data = Pieces()
                    self.audio_data.add(value, tally)
                else:
                    if self.audio_transcript is None:
                        self.audio_transcript = Pieces()
                    self.audio_transcript.add(value, tally)
        audio_id = audio.get("id")
        if audio_id is not None and audio_id != "" and fields.get("id") is None:
            fields["id"] = _string(audio_id, "delta.audio.id", self.limits)
        expires = audio.get("expires_at")
        if expires is not None and fields.get("expires_at") is None:
            if not small_int(expires):
                raise Malformed("`delta.audio.expires_at` must be an integer")
            fields["expires_at"] = expires
        extra_content = audio.get("extra_content")
        if extra_content is not None:
            if type(extra_content) is not dict:
                raise Malformed("`delta.audio.extra_content` must be an object")
            _merge(fields.setdefault("extra_content", {}), extra_content, self.limits, whole=True)
        if not _AUDIO_KNOWN.issuperset(audio):
            if self.audio_extra is None:
                self.audio_extra = {}
            _merge(self.audio_extra, {k: v for k, v in audio.items() if k not in _AUDIO_KNOWN}, self.limits)

    def apply_reasoning_details(self, details: Any, fill_reasoning: bool, out: list[Event] | None) -> None:
        """OpenRouter ``reasoning_details``: entries kept in order; pieces of one entry (same
        ``type`` and ``index``) merge, their ``text``/``summary`` appended. These carry Gemini
        signatures as ``reasoning.encrypted`` entries behind that gateway (§3). The text of
        ``reasoning.text`` entries is thinking too (Snowflake Cortex, Anthropic models behind
        OpenRouter send no other): with ``fill_reasoning`` it is added to the message's (§10)."""
        if type(details) is not list:
            raise Malformed("`delta.reasoning_details` must be a list")
        tally = self.limits.tally
        for entry in details:
            if type(entry) is dict and fill_reasoning and entry.get("type") == "reasoning.text":
                text = entry.get("text")
                if type(text) is str and text:
                    self.add_reasoning(text, out)
            if type(entry) is not dict or "index" not in entry:
                self.details.append(_keep(entry, self.limits))
                continue
            key = (entry.get("type"), entry.get("index"))
            try:
                detail = self.details_by_key.get(key)
            except TypeError:  # an unhashable index: keep the entry as it came
                self.details.append(_keep(entry, self.limits))
                continue
            if detail is None:
                detail = self.details_by_key[key] = Detail()
                self.details.append(detail)
            for name, value in entry.items():
                if name in _DETAIL_TEXT_FIELDS and type(value) is str:
                    pieces = detail.pieces.get(name)
                    if pieces is None:
                        pieces = detail.pieces[name] = Pieces()
                    pieces.add(value, tally)
                else:
                    _merge(detail.fields, {name: value}, self.limits)

    # ---------------------------------------------------------------- the end of the choice

    def end(self, out: list[Event] | None) -> None:
        """No more text will come: release what was held back (a tag prefix, half a surrogate pair)."""
        tally = self.limits.tally
        for splitter in (self.flagged, self.splitter):
            if splitter is not None:
                for kind, piece in splitter.flush():
                    if kind == THINKING:
                        self.add_reasoning(piece, out)
                    else:
                        self.add_answer(piece, out)
        # An open thinking block at the end is kept as thinking and reported (§4).
        self.unterminated = bool(
            (self.splitter is not None and self.splitter.inside)
            or (self.flagged is not None and self.flagged.inside)
        )
        added = self.text.flush(tally)
        if out is not None and added:
            out.append(content_delta(self.index, added))
        if self.reasoning is not None:
            added = self.reasoning.flush(tally)
            if out is not None and added:
                out.append(reasoning_delta(self.index, added))
        if self.refusal is not None:
            added = self.refusal.flush(tally)
            if out is not None and added:
                out.append(RefusalDelta(choice=self.index, delta=added))
        for call in self.calls:
            added = call.args.flush(tally)
            if out is not None and added:
                out.append(arguments_delta(self.index, call.position, added))
        if self.function_call is not None:
            added = self.function_call.args.flush(tally)
            if out is not None and added:
                out.append(FunctionCallArgumentsDelta(choice=self.index, delta=added))
        for pieces in (self.audio_data, self.audio_transcript):
            if pieces is not None:
                pieces.flush(tally)

    def finish(self, reason: str, out: list[Event] | None) -> None:
        """The server sent ``finish_reason``: settle the text, check each call's arguments, and
        report every field done. A call is done here, never because its arguments parse."""
        self.end(out)
        self.finish_reason = reason
        index = self.index
        if out is None:
            for call in self.calls:
                call.check(parse=False)  # checked once, when the call ends (§5); the build reuses it
            return
        if self.content_seen:
            out.append(ContentDone(choice=index, content=self.all_answer_text()))
        if self.reasoning is not None:
            out.append(
                ReasoningDone(choice=index, reasoning=self.reasoning.value(), unterminated=self.unterminated)
            )
        if self.refusal is not None:
            out.append(RefusalDone(choice=index, refusal=self.refusal.value()))
        if self.function_call is not None:
            arguments, parsed, error = self.function_call.check()
            out.append(
                FunctionCallDone(
                    choice=index,
                    name=self.function_call.name,
                    arguments=arguments,
                    parsed=parsed,
                    error=error,
                )
            )
        for call in self.calls:
            out.append(self._call_done(call))
        out.append(ChoiceFinished(choice=index, finish_reason=reason))

    def _call_done(self, call: Call) -> ToolCallDone:
        arguments, parsed, error = call.check()
        return ToolCallDone(
            choice=self.index,
            call=call.position,
            id=call.id,
            name=call.name,
            arguments=arguments,
            parsed=parsed,
            error=error,
            has_thought_signature=has_signature(call.extra_content),
            call_type=_call_type(call),
        )

    def all_answer_text(self) -> str:
        if self.parts is None:
            return self.text.value()
        texts = [p["text"] for p in self.parts if p.get("type") == "text" and type(p.get("text")) is str]
        texts.append(self.text.value())
        return "".join(texts)


def _call_type(call: Call) -> str:
    return call.type or ("custom" if call.kind == "custom" else "function")


def _thinking_texts(value: Any) -> list[str]:
    """Text inside a Mistral ``thinking`` part: a string, or a list of ``{"type": "text"}`` parts."""
    if type(value) is str:
        return [value]
    if type(value) is list:
        return [p["text"] for p in value if type(p) is dict and type(p.get("text")) is str]
    return []


def has_signature(extra: dict[str, Any] | None) -> bool:
    """Whether ``extra_content`` holds a Gemini thought signature (``google`` or ``vertex``)."""
    if not extra:
        return False
    return any(
        type(extra.get(v)) is dict and bool(extra[v].get("thought_signature")) for v in ("google", "vertex")
    )
