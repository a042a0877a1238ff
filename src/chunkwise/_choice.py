"""Everything received for one choice, and the table of every per-field merge rule.

One ``ChoiceState`` per choice ``index`` (choice 1 may arrive before choice 0). It reads each entry
of ``choices`` and sends each field to its rule: text, thinking and refusal here; tool calls and
the legacy ``function_call`` to ``Calls`` (``_calls``); logprobs, audio and ``reasoning_details``
to their own small states (``_fields``). State is plain lists and dicts while the stream runs;
``_build`` turns it into the result models once. Events go to ``out`` as each piece is merged
(``out`` is None when the caller wants no events).

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

from ._calls import Calls
from ._events import (
    ChoiceFinished,
    ContentDone,
    Event,
    FunctionCallArgumentsDelta,
    FunctionCallDone,
    ReasoningDone,
    RefusalDelta,
    RefusalDone,
    arguments_delta,
    content_delta,
    reasoning_delta,
)
from ._fields import AudioOut, Logprobs, ReasoningDetails
from ._limits import Limits, keep, merge, refuse_reserved, string_field
from ._payloads import Malformed
from ._text import Cursor, Pieces
from ._thinking import ANSWER, TAG, THINKING, ThinkTagSplitter

__all__ = ["AnswerMark", "ChoiceState"]

#: Where a reader of ``ChoiceState.answer_since`` stopped (see there).
AnswerMark = tuple[int, "Pieces | None", "Cursor | None"]

_CHOICE_KNOWN = frozenset(("index", "delta", "finish_reason", "logprobs", "obfuscation"))
# Fields of the result's Choice and Message that no chunk sets under these names (see refuse_reserved).
_CHOICE_RESERVED = frozenset(("message",))
_DELTA_RESERVED = frozenset(("thinking_unterminated",))


class ChoiceState:
    """Everything received for one choice index, merged field by field."""

    __slots__ = (
        "annotations",
        "audio",
        "content_seen",
        "delta_extra",
        "details",
        "extra",
        "extra_content",
        "finish_reason",
        "flagged",
        "held_flags",
        "index",
        "limits",
        "logprobs",
        "parts",
        "plain",
        "reasoning",
        "refusal",
        "role",
        "run_extra",
        "side",
        "splitter",
        "text",
        "tools",
        "unterminated",
    )

    def __init__(
        self, index: int, thought_tag: str | None, limits: Limits, thought_open: bool = False
    ) -> None:
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
        self.splitter = ThinkTagSplitter(thought_tag, thought_open) if thought_tag else None
        # Text is appended as it comes: no tag splitter, no Gemini thought flag seen, not finished.
        # One flag for the hot path, cleared where any of the three changes.
        self.plain = self.splitter is None
        # Splits Gemini's flagged `<thought>...</thought>` block, whatever tag is configured (§4).
        self.flagged: ThinkTagSplitter | None = None
        # One letter per character `flagged` holds back: "T" came flagged, "A" unflagged (the start
        # of a `</thought>` cut across a change of flag). Released, each goes where its flag says.
        self.held_flags = ""
        # Where the content's last piece went once split (ANSWER, THINKING or TAG; None before any
        # split): half a surrogate pair held on one side pairs only with that side's next piece
        # if nothing came between them in the content as sent (§11.5).
        self.side: int | None = None
        self.unterminated = False
        self.tools = Calls(self, limits)
        self.finish_reason: str | None = None
        self.logprobs: Logprobs | None = None
        self.audio: AudioOut | None = None
        self.details: ReasoningDetails | None = None
        self.extra_content: dict[str, Any] | None = None
        self.annotations: list[Any] | None = None
        self.delta_extra: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}

    # ---------------------------------------------------------------- one entry of `choices`

    def apply(self, raw: dict[str, Any], out: list[Event] | None) -> None:
        """One entry of a chunk's ``choices``: its delta, logprobs, other fields, finish reason."""
        if self.finish_reason is not None and self.tools.reopened is None and self.refuse_late(raw):
            self._apply_restated(raw, out)
            return
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
                if content:
                    self.content_seen = True
                    if self.plain:
                        added = self.text.add(content, self.limits.tally)
                        if out is not None and added:
                            out.append(content_delta(self.index, added))
                    else:
                        self.add_content(content, False, out)
                elif self.finish_reason is None:
                    # An empty content after the finish (OpenRouter's trailing chunk) is no answer:
                    # it must not turn a null content into "" once ContentDone can no longer say so.
                    self.content_seen = True
            elif type(delta.get("tool_calls")) is list and (
                size == 1 or (size == 2 and self.role is not None and "role" in delta)
            ):
                # Tool-call fragments alone, or with the role Vertex repeats on every chunk.
                apply_tool_call = self.tools.apply
                for fragment in delta["tool_calls"]:
                    apply_tool_call(fragment, out)
            else:
                self.apply_delta(delta, out)
        logprobs = raw.get("logprobs")
        if logprobs is not None:
            if self.finish_reason is not None and Logprobs.brings_tokens(logprobs):
                self.late("logprobs")
            if self.logprobs is None:
                self.logprobs = Logprobs()
            self.logprobs.apply(logprobs, self.limits)
        if not _CHOICE_KNOWN.issuperset(raw):
            refuse_reserved(raw, _CHOICE_RESERVED, "choices[]")
            # Azure content_filter_results, OpenRouter native_finish_reason, Together seed, ...
            merge(self.extra, {k: v for k, v in raw.items() if k not in _CHOICE_KNOWN}, self.limits)
        finish = raw.get("finish_reason")
        if finish is not None:
            finish = string_field(finish, "finish_reason", self.limits)
            # Set once; a repeat (OpenRouter sends `length` twice) is not an error. Gemini may say
            # `stop` after tool calls: kept as sent (§8).
            if self.finish_reason is None and finish:
                self.finish(finish, out)

    def _apply_restated(self, raw: dict[str, Any], out: list[Event] | None) -> None:
        """The choice finished and this entry says so again. OpenRouter (Gemini 3 parallel calls)
        restates `finish_reason` on each chunk of its final burst, each bringing one more whole
        call: such calls are merged, complete on arrival (§11)."""
        tools = self.tools
        tools.reopened = []
        try:
            self.apply(raw, out)  # `reopened` is set: `apply` takes the entry itself this time
        finally:
            reopened, tools.reopened = tools.reopened, None
            # Such calls are complete on arrival: each has its Done, also when a later fragment of
            # the entry is refused (the calls merged before it stay in the partial, §11).
            if out is not None:
                for call in reopened:
                    out.append(tools.done(call))

    def refuse_late(self, raw: dict[str, Any]) -> bool:
        """For a finished choice: raise (through ``late``) if this entry brings text, thinking, a
        refusal, tokens, audio or a call, before anything of it is merged (§11). Metadata passes:
        ``extra_content`` (Gemini's trailing signature), role, annotations, unknown fields, a call's
        own metadata. An entry that restates the same finish of a choice that made calls may bring
        new whole calls (OpenRouter; ``Calls`` checks each): returns whether this one does."""
        restated = raw.get("finish_reason") == self.finish_reason and bool(self.tools.calls)
        delta = raw.get("delta")
        if Logprobs.brings_tokens(raw.get("logprobs")):
            self.late("logprobs")
        if type(delta) is not dict:
            return restated
        for key in ("content", "reasoning_content", "reasoning", "refusal", "function_call"):
            if delta.get(key):
                self.late(f"`{key}`")
        if AudioOut.brings_media(delta.get("audio")):
            self.late("audio")
        if ReasoningDetails.thinking(delta.get("reasoning_details")):
            self.late("thinking")
        fragments = delta.get("tool_calls")
        if type(fragments) is not list:
            return restated
        tools = self.tools
        for fragment in fragments:
            if type(fragment) is not dict:
                continue  # the apply reports the shape
            body = fragment.get("function") or fragment.get("custom")
            body = body if type(body) is dict else {}
            brings = body.get("arguments") or body.get("input")
            name, call_id = body.get("name"), fragment.get("id")
            call = tools.identify(call_id, fragment.get("index"), name)
            # A new name, or an id for a call that had none, is news of the call, not metadata.
            renamed = call is not None and ((name and name != call.name) or (call_id and call_id != call.id))
            if restated:
                # New whole calls may come on such an entry (OpenRouter); a call already held gets
                # metadata at most. Checked for every fragment before any is merged (§11).
                if call is not None and (brings or renamed):
                    self.late("tool-call arguments")
                continue
            if brings:
                self.late("tool-call arguments")
            if call is None or renamed:
                self.late("a tool call")
        return restated

    def late(self, what: str) -> None:
        """Refuse text, thinking, a call or audio for a finished choice (§11): it is not merged into
        the finished message; the error carries the chunk, and its partial everything before. (The
        one exception, a call on an entry that restates the finish, is ``Calls.late``'s.)"""
        if self.finish_reason is not None:
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
                    if value or self.finish_reason is None:  # as on the hot path above
                        self.content_seen = True
                    if value:
                        self.add_content(value, thought, out)
                elif type(value) is list:
                    if value or self.finish_reason is None:
                        self.content_seen = True
                    self.add_content_parts(value, thought, out)
                else:
                    raise Malformed("`delta.content` must be a string or a list of parts")
            elif key == "tool_calls":
                if type(value) is not list:
                    raise Malformed("`delta.tool_calls` must be a list")
                for fragment in value:
                    self.tools.apply(fragment, out)
            elif key == "role":
                # Vertex repeats `role` on every chunk: set once (openai-python appends it).
                role = string_field(value, "delta.role", self.limits)
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
                self.tools.apply_function_call(value, out)
            elif key == "audio":
                if self.finish_reason is not None and AudioOut.brings_media(value):
                    self.late("audio")
                if self.audio is None:
                    self.audio = AudioOut()
                self.audio.apply(value, self.limits)
            elif key == "reasoning_details":
                # Thinking text in `reasoning.text` entries counts only when this delta carries no
                # other thinking text: OpenRouter sends the same text in `reasoning` and here.
                if not (delta.get("reasoning") or delta.get("reasoning_content")):
                    for text in ReasoningDetails.thinking(value):
                        self.add_reasoning(text, out)
                if self.details is None:
                    self.details = ReasoningDetails()
                self.details.apply(value, self.limits)
            elif key == "obfuscation":
                continue  # OpenAI's random padding per event: not part of the answer (§10)
            elif type(value) is list:
                # A list under `delta` holds items streamed in parts (`annotations`, OpenRouter
                # `images`): each chunk brings new ones, so lists concatenate in arrival order.
                # (Lists elsewhere, e.g. Perplexity's envelope `citations`, are restated state.)
                items = keep(value, self.limits)
                if key == "annotations":  # a declared field of Message: never an extra
                    if self.annotations is None:
                        self.annotations = []
                    self.annotations.extend(items)
                else:
                    held = self.delta_extra.get(key)
                    if type(held) is list:
                        held.extend(items)
                    else:
                        self.delta_extra[string_field(key, "delta key", self.limits)] = items
            elif key == "annotations":
                raise Malformed("`delta.annotations` must be a list")
            else:
                if unknown is None:
                    unknown = {}
                unknown[key] = value
        if unknown is not None:
            refuse_reserved(unknown, _DELTA_RESERVED, "delta")
            merge(self.delta_extra, unknown, self.limits)

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
            merge(self.extra_content, extra, self.limits, whole=True)
        return thought

    def add_content(self, text: str, thought: bool, out: list[Event] | None) -> None:
        """Content text: thinking or answer, by the thought flag and the configured tag (§4).

        The Gemini API flags every thought chunk, and the flag decides (§4.5), character by
        character: a flagged character is thinking and an unflagged one is answer (split by the
        configured tag as if no flag had come), less the Gemini block's tags: a `<thought>` all
        flagged opens it, and a `</thought>` closes it if it starts on a flagged character or on
        the first unflagged one after them, however chunks and flags cut it. Any other unflagged
        character ends the block. A tag's start held back that does not become the tag goes
        where each of its characters' flags says.
        """
        self.late("content")
        flagged = self.flagged
        if flagged is None:
            if not thought:
                self.add_tagged(text, out)
                return
            flagged = self.flagged = ThinkTagSplitter("thought")
            self.plain = False
        close = "</thought>"
        if thought:
            if "A" in self.held_flags:  # an unflagged "</tho": does this flagged text finish it?
                pending = flagged.held + text
                if not pending.startswith(close):
                    if close.startswith(pending):
                        flagged.held, self.held_flags = pending, self.held_flags + "T" * len(text)
                        return
                    self.release_flagged(out)
            if self.splitter is not None:
                if self.splitter.held:
                    # Unflagged text held as a possible tag start ("a <"): flagged text now comes
                    # between it and whatever follows, so it is no tag; out first, in order (§4.6).
                    self.release_tagged(out)
                self.splitter.lead = False  # the content has begun: an opening tag no longer begins it
            for kind, piece in flagged.feed(text):
                if kind == TAG:
                    self.side = TAG
                else:
                    self.add_reasoning(piece, out, content=True)
            self.held_flags = "T" * len(flagged.held)
            return
        if flagged.inside or flagged.held:
            pending = flagged.held + text
            if flagged.inside and not (pending.startswith(close) or close.startswith(pending)):
                # Not the closing tag from what was held on. If that was all flagged ("why <"),
                # this piece is the first unflagged text, where the tag may still open.
                self.release_flagged(out)
                pending = text
            if flagged.inside and pending.startswith(close):
                flagged.held, flagged.inside, self.held_flags = "", False, ""
                self.side = TAG
                text = pending[len(close) :]
                if not text:
                    return
            elif flagged.inside and close.startswith(pending):
                flagged.held = pending  # the closing tag's start, cut across chunks: wait
                self.held_flags += "A" * (len(pending) - len(self.held_flags))
                return
            else:
                self.release_flagged(out)
                flagged.inside = False  # the block ends where the flag does, closed or not
        self.add_tagged(text, out)

    def release_tagged(self, out: list[Event] | None) -> None:
        """Give out what the configured tag's splitter held back: a tag's start that is none."""
        splitter = self.splitter
        assert splitter is not None
        splitter.lead = False
        for kind, piece in splitter.flush():
            if kind == THINKING:
                self.add_reasoning(piece, out, content=True)
            else:
                self.add_answer(piece, out)

    def release_flagged(self, out: list[Event] | None) -> None:
        """Give out what the flagged splitter held back, a tag's start that did not become one:
        each character where its flag says. An unflagged one among them ends the block."""
        flagged = self.flagged
        assert flagged is not None
        held, flags = flagged.held, self.held_flags
        flagged.held, self.held_flags = "", ""
        start = 0
        while start < len(held):
            end = start + 1
            while end < len(held) and flags[end] == flags[start]:
                end += 1
            if flags[start] == "T":
                self.add_reasoning(held[start:end], out, content=True)
            else:
                flagged.inside = False
                self.add_tagged(held[start:end], out)
            start = end

    def add_tagged(self, text: str, out: list[Event] | None) -> None:
        """Unflagged content, split by the configured tag when there is one."""
        splitter = self.splitter
        if splitter is None:
            self.add_answer(text, out)
        elif not splitter.held and "<" not in text:
            # No tag can start in this piece and none is pending: it all goes where we are.
            if splitter.inside:
                splitter.lead = False  # text came: an opening tag can no longer begin it
                self.add_reasoning(text, out, content=True)
            else:
                self.add_answer(text, out)
        else:
            for kind, piece in splitter.feed(text):
                if kind == THINKING:
                    self.add_reasoning(piece, out, content=True)
                elif kind == TAG:
                    self.side = TAG
                else:
                    self.add_answer(piece, out)

    def add_answer(self, text: str, out: list[Event] | None) -> None:
        """Answer text of the content (split from thinking, when it was)."""
        if self.side is not ANSWER:
            if self.side is not None and self.text.high:
                # Something came between this and the half pair held: it has no second half.
                added = self.text.flush(self.limits.tally)
                if out is not None:
                    out.append(content_delta(self.index, added))
            self.side = ANSWER
        added = self.text.add(text, self.limits.tally)
        if out is not None and added:
            out.append(content_delta(self.index, added))

    def add_reasoning(self, text: str, out: list[Event] | None, content: bool = False) -> None:
        """Thinking text. ``content``: split from the content (a tag's block, Gemini's flag, a Mistral
        thinking part), where, as in ``add_answer``, half a pair held on this side is parted by
        anything between (§11.5); thinking from its own fields (``reasoning_content``) is not."""
        self.late("thinking")
        reasoning = self.reasoning
        if reasoning is None:
            reasoning = self.reasoning = Pieces()
        if content and self.side is not THINKING:
            if self.side is not None and reasoning.high:
                added = reasoning.flush(self.limits.tally)
                if out is not None:
                    out.append(reasoning_delta(self.index, added))
            self.side = THINKING
        if text:
            added = reasoning.add(text, self.limits.tally)
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
                    merge(self.run_extra, extra, self.limits)
                if text:
                    self.add_content(text, thought, out)
            elif kind == "thinking":
                for piece in _thinking_texts(part.get("thinking")):
                    self.add_reasoning(piece, out, content=True)
            else:
                self.late("a content part")
                if self.parts is None:
                    self.parts = []
                self.close_text_run(out)
                self.parts.append(keep(part, self.limits))

    def close_text_run(self, out: list[Event] | None) -> None:
        """A part that is not text arrived: the text so far becomes a text part before it."""
        assert self.parts is not None
        added = self.text.flush(self.limits.tally)  # half a surrogate pair cannot wait any longer
        if out is not None and added:
            out.append(content_delta(self.index, added))
        run = self.text.value()
        if run or self.run_extra:
            self.parts.append({"type": "text", "text": run, **(self.run_extra or {})})
        self.text = Pieces()
        self.run_extra = None

    # ---------------------------------------------------------------- tool calls

    # ---------------------------------------------------------------- the end of the choice

    def end(self, out: list[Event] | None) -> None:
        """No more text will come: release what was held back (a tag prefix, half a surrogate pair)."""
        tally = self.limits.tally
        splitter = self.splitter
        # With `thought_open`, a block no content was ever written into (a turn of tool calls) was
        # never left open by the answer: `lead` with nothing held means no content came.
        unused = splitter is not None and splitter.lead and not splitter.held
        if self.flagged is not None:
            self.release_flagged(out)
        if splitter is not None:
            self.release_tagged(out)
        # An open thinking block at the end is kept as thinking and reported (§4.4), when there is
        # thinking to report: `ReasoningDone` says it, and a choice without thinking has none.
        self.unterminated = self.reasoning is not None and bool(
            (splitter is not None and splitter.inside and not unused)
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
        for call in self.tools.calls:
            added = call.args.flush(tally)
            if out is not None and added:
                out.append(arguments_delta(self.index, call.position, added))
        legacy = self.tools.function_call
        if legacy is not None:
            added = legacy.args.flush(tally)
            if out is not None and added:
                out.append(FunctionCallArgumentsDelta(choice=self.index, delta=added))
        if self.audio is not None:
            self.audio.end(self.limits)

    def finish(self, reason: str, out: list[Event] | None) -> None:
        """The server sent ``finish_reason``: settle the text, check each call's arguments, and
        report every field done. A call is done here, never because its arguments parse."""
        self.end(out)
        self.finish_reason = reason
        self.plain = False
        index = self.index
        tools = self.tools
        if out is None:
            for call in tools.calls:
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
        legacy = tools.function_call
        if legacy is not None:
            arguments, parsed, error = legacy.check()
            out.append(
                FunctionCallDone(
                    choice=index, name=legacy.name, arguments=arguments, parsed=parsed, error=error
                )
            )
        for call in tools.calls:
            out.append(tools.done(call))
        out.append(ChoiceFinished(choice=index, finish_reason=reason))

    def answer_since(self, mark: AnswerMark | None) -> tuple[str, AnswerMark]:
        """The answer text added after ``mark`` (None: from the start), and the mark for the next
        call: the text runs between typed parts (Mistral) included, at the cost of what is new.

        A mark is (parts seen, the text run being read, the cursor into it). A run closed since
        (a part that is not text arrived) is now the first text part after those seen; the rest of
        it is read from there, then the parts after it, then the new run.
        """
        seen, run, cursor = mark if mark is not None else (0, None, None)
        texts = []
        rest_of_run = run is not None and run is not self.text
        for part in (self.parts or ())[seen:]:
            text = part.get("text")
            if part.get("type") == "text" and type(text) is str:
                if rest_of_run:
                    text = text[cursor[4] if cursor is not None else 0 :]
                    rest_of_run = False
                texts.append(text)
        new, cursor = self.text.since(cursor if run is self.text else None)
        texts.append(new)
        return "".join(texts), (len(self.parts or ()), self.text, cursor)

    def all_answer_text(self) -> str:
        if self.parts is None:
            return self.text.value()
        texts = [p["text"] for p in self.parts if p.get("type") == "text" and type(p.get("text")) is str]
        texts.append(self.text.value())
        return "".join(texts)


def _thinking_texts(value: Any) -> list[str]:
    """Text inside a Mistral ``thinking`` part: a string, or a list of ``{"type": "text"}`` parts."""
    if type(value) is str:
        return [value]
    if type(value) is list:
        return [p["text"] for p in value if type(p) is dict and type(p.get("text")) is str]
    return []
