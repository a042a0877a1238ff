"""Cutting a recording log that holds several responses back to back into one stream per response.

Contract: ``split_responses(data)`` returns byte pieces whose concatenation is ``data``, each cut
right after the blank line that ends an SSE event, one piece per response the stream holds. It
keeps no state between calls, raises nothing for any bytes, and returns ``[data]`` when the log
cannot be read (invalid UTF-8, a line past the decoder's limit) or holds one response.

Theory of operation
-------------------
A log of several requests often records their responses one after the other in one file
(``cerebras/zai-glm-4.7-structured-tools.sse``: two responses, no ``[DONE]`` between them).
The assembler rightly refuses to merge them (behaviour.md §11.2); this module finds where each
one begins, using only what the stream itself says:

* The bytes are cut into events at blank lines (``\\n``, ``\\r\\n`` and ``\\r`` endings) and fed to
  one ``SSEDecoder``, an event at a time, so each decoded item is known to lie in its event. A
  response is *closed* once every choice that appeared has a ``finish_reason``, or ``[DONE]``
  came, or the server reported an error.
* After the close, a chunk that *proves* a new response opens one: it brings content for a
  finished choice, exactly what the assembler would refuse as late (§11.2): text, content parts,
  thinking (from any source), refusal text, logprobs tokens, audio data, a new tool call or
  more arguments, a ``function_call``; or it opens a choice index not seen before under another
  ``id`` than the chunk before it. After ``[DONE]`` any readable item proves it (the assembler
  refuses every chunk after ``[DONE]``).
* A choice that opens after the close under the same ``id`` may be one response streaming its
  choices one after another (``n`` > 1) or the next response opening with another choice than
  the first. It is held; if every choice finishes again before any proof, it was the former and
  all that was held stays. (A next response whose choice 1 runs whole before its choice 0, under
  the previous response's id, reads the same as the former: it stays, and the assembler then
  reports the late content.)
* Everything else after the close stays with the response before it: usage (a ``choices: []``
  chunk), a trailing ``extra_content`` signature, a repeated role or finish, and OpenRouter's
  entry that restates the finish and brings one more whole tool call (§11.3,
  ``gemini/openrouter-gemini-3-pro-parallel-tools-2025-11.sse``). An ``id`` change alone is no
  boundary: OpenRouter changes ``id`` inside one response
  (``moonshot/kimi-k2.5-via-avian-parallel-tools-reasoning.sse``).
* The proof is often not the new response's first chunk: a response opens with a chunk that
  only names the role (Cerebras' ``{"delta": {"role": "assistant"}}``), and a chunk of that
  shape is also how OpenRouter ends one (``role``, ``content: ""`` and usage, no finish). So a
  chunk after the close that names a role for a finished choice without restating its finish
  is held as a possible opening, as is a choice opening under the same ``id``. When proof
  arrives, the new response begins at the first of the last run of held openings that share one
  ``id``, passing over any that carry usage under another ``id`` than the proof's (the previous
  response's trailer); with none, at the proof. Held chunks that no proof follows stay where
  they are.
* The cut goes right after the last event that belongs to the response before, so events that
  carry nothing (comments, keep-alives, empty ``data:``, extra blank lines) go with the
  response they precede, as lines outside SSE framing do with the event they share.

A response that says nothing new (only a role and a finish) cannot be told from metadata and
stays with the one before, as the assembler would take it. A response whose choice never
finishes (Snowflake Cortex) and that sends no ``[DONE]`` does not close, so what follows stays
with it; the assembler then reports the late content as it does today.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ._fields import AudioOut, Logprobs, ReasoningDetails
from ._payloads import DONE, ErrorBody, Malformed, fast_loads, read_data, read_stray
from ._sse import DecodeFault, SSEDecoder, StrayText

__all__ = ["split_responses"]

# A line ending followed by a blank line's ending: the end of an event. `\r(?!\n)` keeps a `\r\n`
# whole, so a match never begins or ends between its two bytes. A blank line right after another
# is not matched (the search resumes past the first): it ends no event, so no cut is lost.
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")

# What one decoded item says, besides a chunk dict, DONE, an ErrorBody or None (nothing).
_UNREADABLE = object()  # a payload that is not a chunk: the assembler reports it where it falls
_FAULT = object()  # the decoder cannot go on: the log cannot be read


def split_responses(data: bytes) -> list[bytes]:
    """Cut a log of SSE responses written back to back into one byte stream per response.

    The pieces, concatenated, are ``data``; each is cut after the blank line that ends an event
    and assembles on its own (``chunkwise.assemble(piece)``) to its response. A log of one
    response, or one that cannot be read, comes back whole as ``[data]``. Where a response
    begins is decided by the stream alone (see the module docstring and behaviour.md §11).
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(f"split_responses() takes bytes, not {type(data).__name__}")
    ends = [match.end() for match in _EVENT_END.finditer(data)]
    if not ends or ends[-1] != len(data):
        ends.append(len(data))
    decoder = SSEDecoder()
    responses = _Responses()
    start = 0
    last = len(ends) - 1
    for event, end in enumerate(ends):
        items = decoder.decode_compact(data[start:end])
        if event == last:
            items += decoder.flush_compact()
        for item in items:
            reading = _read(item)
            if reading is _FAULT:
                return [data]
            if reading is not None:
                responses.take(reading, event)
        start = end
    pieces = []
    start = 0
    for event in responses.starts:
        cut = ends[event]
        if start < cut < len(data):
            pieces.append(data[start:cut])
            start = cut
    pieces.append(data[start:])
    return pieces


def _read(item: Any) -> Any:
    """One decoded item as a chunk dict, ``DONE``, an ``ErrorBody``, None, ``_UNREADABLE`` or ``_FAULT``."""
    try:
        if type(item) is str:
            try:
                value = fast_loads(item)
            except (ValueError, RecursionError):
                value = None
            return value if type(value) is dict else read_data(item)
        if type(item) is StrayText:
            return read_stray(item.text)
        if type(item) is DecodeFault:
            return _FAULT
        return read_data(item.data, item.event)
    except Malformed:
        return _UNREADABLE


class _Choice:
    """What the splitter keeps of one choice: enough to tell late content from metadata."""

    __slots__ = ("call_ids", "call_indices", "calls", "finished", "function_call", "reason")

    def __init__(self) -> None:
        self.finished = False
        self.reason: Any = None  # the finish_reason it finished with
        self.calls = False
        self.call_ids: set[str] = set()
        self.call_indices: set[int] = set()
        self.function_call = False


class _Held:
    """A chunk that came after the close, kept until the stream shows which response it is in."""

    __slots__ = ("before", "chunk", "opening")

    def __init__(self, chunk: dict[str, Any], before: int, opening: bool) -> None:
        self.chunk = chunk
        self.before = before  # the last event before this chunk's that held a reading
        self.opening = opening


class _Responses:
    """The responses found so far: ``starts`` holds, for each response after the first, the
    event after which it begins."""

    __slots__ = (
        "before",
        "choices",
        "done",
        "event",
        "failed",
        "held",
        "last_id",
        "starts",
        "unfinished",
        "watching",
    )

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.event = -1  # the event of the last reading
        self.before = -1  # the last event before that one that held a reading
        self._reset()

    def _reset(self) -> None:
        self.choices: dict[int, _Choice] = {}
        self.unfinished = 0
        self.done = False
        self.failed = False
        # Once the response has closed, each chunk is asked whether it proves a new response;
        # those that do not are held until proof comes or the response closes again.
        self.watching = False
        self.held: list[_Held] = []
        self.last_id: Any = None  # the `id` of the last chunk applied

    def _settle(self) -> None:
        """Start watching once the response is closed (module docstring)."""
        if self.done or self.failed or (self.choices and not self.unfinished):
            self.watching = True

    def take(self, reading: Any, event: int) -> None:
        """One reading (not None) from ``event``."""
        if event != self.event:
            self.before, self.event = self.event, event
        chunk = reading if type(reading) is dict else None
        if reading is DONE:
            self.done = self.watching = True
            self.held.clear()  # nothing held can open a response: the assembler ends at [DONE]
            return
        if self.done:
            self._open([], chunk, self.before)  # the assembler refuses anything after [DONE]
        elif chunk is not None:
            if not self.watching:
                self._apply(chunk)
            else:
                self._watch(chunk)
        if type(reading) is ErrorBody:
            self.failed = True
        self._settle()

    def _watch(self, chunk: dict[str, Any]) -> None:
        """A chunk after the close: the proof of a new response, or held until proof comes."""
        proof, opening = self._classify(chunk)
        if proof:
            self._proven(chunk)
            return
        self.held.append(_Held(chunk, self.before, opening))
        # Choices opened after the close: before this chunk, or by it (a choice may open and finish
        # in one chunk: Gemini sends a short answer whole).
        reopened = self.unfinished > 0 or any(index not in self.choices for index, _ in _entries(chunk))
        self._apply(chunk)
        if reopened and not self.unfinished:
            # Choices opened after the close have all finished: one response streaming its
            # choices one after another. What was held is settled: it stays.
            self.held.clear()

    def _proven(self, chunk: dict[str, Any]) -> None:
        """``chunk`` proves a new response: find its first chunk among those held (module docstring)."""
        chunk_id = chunk.get("id")
        openings = [
            h for h in self.held if h.opening and ("usage" not in h.chunk or h.chunk.get("id") == chunk_id)
        ]
        if not openings:
            self._open([], chunk, self.before)
            return
        first = len(openings) - 1
        while first and openings[first - 1].chunk.get("id") == openings[-1].chunk.get("id"):
            first -= 1
        start = self.held.index(openings[first])
        self._open([h.chunk for h in self.held[start:]], chunk, self.held[start].before)

    def _open(self, earlier: list[dict[str, Any]], chunk: dict[str, Any] | None, after: int) -> None:
        """A new response begins after event ``after``, with the ``earlier`` chunks, then ``chunk``."""
        if after < 0 or (self.starts and after <= self.starts[-1]):
            # No event of the response before lies before it (cannot happen for a readable log,
            # whose first response closes only after a reading): keep it with that response.
            if chunk is not None:
                self._apply(chunk)
            return
        self.starts.append(after)
        self._reset()
        for held in earlier:
            self._apply(held)
        self._settle()
        if chunk is not None:
            if self.watching:
                # The held chunks make a whole response of their own (a turn of calls): the chunk
                # that proved it new is asked again, against that response.
                self._watch(chunk)
            else:
                self._apply(chunk)
        self._settle()

    def _apply(self, chunk: dict[str, Any]) -> None:
        """Note the choices, finishes and calls ``chunk`` brings (malformed parts are passed over:
        the assembler reports them)."""
        if chunk.get("error") or (chunk.get("object") == "error" and not chunk.get("choices")):
            self.failed = True  # OpenRouter's error chunk, vLLM's error body: the response ends here
        self.last_id = chunk.get("id")
        for index, entry in _entries(chunk):
            choice = self.choices.get(index)
            if choice is None:
                choice = self.choices[index] = _Choice()
                self.unfinished += 1
            if entry.get("finish_reason") and not choice.finished:
                choice.finished = True
                choice.reason = entry["finish_reason"]
                self.unfinished -= 1
            delta = entry.get("delta")
            if type(delta) is not dict:
                continue
            calls = delta.get("tool_calls")
            if type(calls) is list:
                for fragment in calls:
                    if type(fragment) is dict:
                        choice.calls = True
                        call_id, call_index = fragment.get("id"), fragment.get("index")
                        if type(call_id) is str and call_id:
                            choice.call_ids.add(call_id)
                        if type(call_index) is int:
                            choice.call_indices.add(call_index)
            if type(delta.get("function_call")) is dict:
                choice.function_call = True

    def _classify(self, chunk: dict[str, Any]) -> tuple[bool, bool]:
        """For a chunk after the close: (it proves a new response, it may be a response's first chunk)."""
        opening = False
        for index, entry in _entries(chunk):
            choice = self.choices.get(index)
            if choice is None:
                # A choice opens after every other one finished: a new response under a new id;
                # under the same id, maybe one response streaming its choices one after another.
                if chunk.get("id") != self.last_id:
                    return True, False
                opening = True
                continue
            if not choice.finished:
                continue  # opened after the close, or the rest of a choice an error cut short
            # As the assembler reads it (§11.3): the same finish again, on a choice that made calls.
            restated = choice.calls and entry.get("finish_reason") == choice.reason
            if _brings_content(entry, choice, restated):
                return True, False
            delta = entry.get("delta")
            if not restated and type(delta) is dict and delta.get("role"):
                opening = True
        return False, opening


def _entries(chunk: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The readable entries of a chunk's ``choices``, with their index (malformed ones are passed
    over: the assembler reports them)."""
    choices = chunk.get("choices")
    if type(choices) is list:
        for entry in choices:
            index = entry.get("index", 0) if type(entry) is dict else None
            if type(index) is int:
                yield index, entry


def _brings_content(entry: dict[str, Any], choice: _Choice, restated: bool) -> bool:
    """Whether ``entry`` brings what the assembler refuses for a finished choice (§11.2)."""
    if Logprobs.brings_tokens(entry.get("logprobs")):
        return True
    delta = entry.get("delta")
    if type(delta) is not dict:
        return False
    content = delta.get("content")
    if type(content) is str:
        if content:
            return True
    elif type(content) is list and any(_part_brings(part) for part in content):
        return True
    for key in ("reasoning_content", "reasoning", "refusal"):
        value = delta.get(key)
        if type(value) is str and value:
            return True
    # `reasoning_details` text is thinking only when the delta has no other (§10.5).
    if not (delta.get("reasoning") or delta.get("reasoning_content")) and ReasoningDetails.thinking(
        delta.get("reasoning_details")
    ):
        return True
    if AudioOut.brings_media(delta.get("audio")):
        return True
    function_call = delta.get("function_call")
    if type(function_call) is dict:
        arguments = function_call.get("arguments")
        if not choice.function_call or (type(arguments) is str and arguments):
            return True
    calls = delta.get("tool_calls")
    return type(calls) is list and any(_fragment_brings(f, choice, restated) for f in calls)


def _part_brings(part: Any) -> bool:
    """A content part other than an empty text part (§3: Mistral's typed parts)."""
    if type(part) is not dict:
        return True
    kind = part.get("type")
    if kind == "text":
        return part.get("text") != ""
    if kind == "thinking":
        value = part.get("thinking")
        return type(value) is str or (
            type(value) is list and any(type(p) is dict and type(p.get("text")) is str for p in value)
        )
    return True


def _fragment_brings(fragment: Any, choice: _Choice, restated: bool) -> bool:
    """Whether a ``tool_calls`` fragment opens a call or adds arguments (the identity rules of
    behaviour.md §5, in short: by id, then index, then the most recent call). On an entry that
    restates the finish, a new whole call is merged (§11.3): only arguments for a known call count."""
    if type(fragment) is not dict:
        return False
    body = fragment.get("function")
    if type(body) is not dict:
        body = fragment.get("custom")
    text = name = None
    if type(body) is dict:
        text = body.get("arguments", body.get("input"))
        name = body.get("name")
    call_id, index = fragment.get("id"), fragment.get("index")
    if type(call_id) is str and call_id:
        new = call_id not in choice.call_ids
    elif type(index) is int:
        new = index not in choice.call_indices
    else:
        # Gemini API: whole calls without id or index; a trailing signature fragment names none.
        new = not choice.calls or bool(name)
    more = type(text) is str and bool(text)
    return more and not new if restated else new or more
