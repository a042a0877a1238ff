"""Incremental Server-Sent Events decoding, standard library only.

Theory of operation
-------------------
Bytes arrive in arbitrary pieces. Three things a piece boundary can cut are handled without looking
ahead: a multi-byte UTF-8 character (an incremental UTF-8 decoder keeps the partial character); a
``\\r\\n`` line ending (a trailing ``\\r`` ends the line at once, and a ``\\n`` that opens the next
piece is then skipped: ``_skip_lf``); a line (the unterminated tail is kept as a list of pieces and
joined only when its end arrives, so a long line fed byte by byte costs linear time, not quadratic).

Lines follow the WHATWG event-stream rules: ``data`` lines accumulate, ``event``/``id``/``retry``
set fields, a line starting with ``:`` is a comment (OpenRouter's ``: OPENROUTER PROCESSING``
keep-alives), and a blank line dispatches the event. Three departures, each deliberate:

* The standard says to ignore a line whose field name is unknown, and httpx-sse drops such lines
  silently. Vertex has been seen writing a raw JSON error body
  (``[{"error": {"code": 499, "status": "CANCELLED", ...}}]``) outside any ``data:`` line,
  mid-stream, sometimes pretty-printed over several lines. Dropping it would hide the failure, so
  consecutive lines outside SSE framing are gathered and surfaced as one ``StrayText`` item, closed
  by the next SSE line, a blank line, or the end of input. The assembler decides what the text means.
* An event still pending at the end of input (no closing blank line) is dispatched rather than
  discarded, since recordings often lose the final blank line and the data is real.
* An ``event: error`` frame without data is dispatched (with ``data=""``) where the standard drops
  it. It is the server saying the stream failed; dropped, a failed stream could pass for a complete
  one. The assembler reads an error event object the same way (docs/behaviour.md §1).

Hostile input
-------------
Whatever the bytes, the compact API returns items and at most one ``DecodeFault`` and raises
nothing, and both the items and the fault are the same wherever the stream was cut.

* Text held until its end arrives (the current line, the data lines of the pending event, a block
  of stray lines) is bounded by ``max_line_length`` characters each, and kept as pieces joined
  into a block every ``_BLOCK`` pieces: a line trickled in two-byte pieces costs about its own
  size, not one string object (some fifty bytes) per piece.
* A fault (invalid UTF-8, or a limit passed) ends the stream: the call that finds it returns every
  item completed before it, then the fault; every later call returns the fault again. Each fault
  is found at a place the whole stream defines, never the cuts: the first invalid byte (the
  characters before it are decoded and their lines processed first); the line whose length
  passes the limit (found once ``max_line_length + 1`` of its characters are known, ended or not);
  the data or stray line whose end would bring its event's data or its block past the limit.
* ``retry`` is an integer of milliseconds; a value of more than 18 digits is invalid, and an invalid
  ``retry`` is ignored, per the standard (``int()`` refuses more than 4300 digits anyway).

Two paths decode a piece. The fast path (``_decode_fast``) splits a piece into lines and appends
``data:`` lines without counting anything. It is safe while ``_budget`` stays non-negative: after
each exact count the budget is set to the limit minus all the characters held (line, data and
stray text together, since text moves between them), and every piece takes its length in bytes
from it (a piece never decodes to more characters than it has bytes), so nothing the piece
completes or leaves held can pass the limit. With the default limit that is every piece of a real
stream, and the one subtraction also keeps the stream offset: ``_origin - _budget`` bytes have been
fed. (Keeping the sizes per piece instead cost 11% more instructions with one event per piece; the
budget costs 6%, the int it makes.) Otherwise the careful path (``_decode_careful``) counts what is
held, walks the lines one by one checking every limit, locates a fault in stream bytes, and sets
the budget again. A piece of more than ``_SLICE`` bytes is decoded a slice at a time, so splitting a
huge piece into lines never holds more than a slice's worth of line objects.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Literal

from ._errors import MalformedChunkError
from ._faults import Overflow, Stopped, invalid_utf8, long_line, overflow, utf8_length

__all__ = ["DEFAULT_MAX_LINE_LENGTH", "DecodeFault", "SSEDecoder", "ServerSentEvent", "StrayText"]

#: The default bound on one line, on the data of one event, and on one block of stray text, in
#: characters. Generous on purpose: a Gemini image-generation chunk carries several MB of base64 in
#: one ``data:`` line.
DEFAULT_MAX_LINE_LENGTH = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSentEvent:
    """One dispatched event: ``event`` is None when the frame named no type (the default, "message")."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StrayText:
    """Lines that are not SSE fields (for instance a raw JSON error body), joined with ``\\n``."""

    text: str


FaultKind = Literal["utf8", "line_too_long"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeFault:
    """Why the byte stream cannot be decoded (the sender's fault); the last item of its call.

    ``message`` says what and where, as an offset in bytes from the start of the stream. ``kind``
    is ``"utf8"`` for invalid UTF-8, ``"line_too_long"`` when a line, the data of one event, or one
    block of stray text would pass ``max_line_length``. ``raw`` is a short excerpt: the line up to
    the invalid bytes (each shown as U+FFFD), or the start of the line that was too long.
    """

    message: str
    raw: str
    kind: FaultKind


SSEItem = ServerSentEvent | StrayText
CompactItem = str | ServerSentEvent | StrayText | DecodeFault

_KNOWN_FIELDS = frozenset(("data", "event", "id", "retry"))
_LINE_END = re.compile(r"\r\n?|\n")
_BLOCK = 512  # held pieces are joined into a block every _BLOCK pieces (as Pieces in _text.py)
_SLICE = 1 << 16  # a larger piece is decoded a slice at a time
_MAX_BUDGET = (1 << 30) - 1  # kept to one machine digit, for fast arithmetic; re-counted when spent
_MAX_RETRY_DIGITS = 18  # so a valid value always fits a signed 64-bit integer


def _chunk_line(line: str) -> bool:
    """Whether a line outside SSE framing is by itself a JSON object with ``choices`` or ``object``
    (a chunk of a JSON-lines log). Only stray lines get here: they are rare, so a parse is cheap."""
    text = line.strip()
    if text[:1] != "{" or text[-1:] != "}" or ('"choices"' not in text and '"object"' not in text):
        return False
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and ("choices" in value or "object" in value)


class SSEDecoder:
    """Bytes in, ``ServerSentEvent``/``StrayText`` items out. Call ``flush()`` at the end of input.

    ``max_line_length`` bounds, in characters, one line, the data of one event (its data lines
    joined) and one block of stray text, so that no input makes the decoder hold much more than
    that; None means no limit. It must be a positive integer.

    A fault (invalid UTF-8, a limit passed) raises ``MalformedChunkError`` from ``decode`` or
    ``flush``, and loses nothing: when a piece holds a fault, ``decode`` returns the items
    completed before it, and the error is raised by the first call with nothing left to return
    (that same call when nothing came before the fault in the piece, else the next ``decode`` or
    ``flush``). ``flush`` raises at once, with the items the end of input completed before the
    fault (the last event, when the line cut inside a character is not one of its data lines) as
    the error's ``items``.
    Every call after the error raises it again. Its ``position`` is the 1-based number of the event
    being read (events returned so far by ``decode``/``flush``, and on the error's ``items``, plus
    one); ``raw`` is ``DecodeFault.raw``.

    ``decode_compact``/``flush_compact`` (the assembler's) return the fault as a ``DecodeFault``,
    last, after the items completed before it, and ``[fault]`` from every later call.
    """

    __slots__ = (
        "_budget",
        "_checking",
        "_data",
        "_data_blocks",
        "_data_blocks_size",
        "_data_size",
        "_dispatched",
        "_event",
        "_fault",
        "_id",
        "_limit",
        "_origin",
        "_plain",
        "_retry",
        "_skip_lf",
        "_started",
        "_stray",
        "_stray_blocks",
        "_stray_size",
        "_tail",
        "_tail_blocks",
        "_tail_blocks_len",
        "_utf8",
        "ended_mid_line",
    )

    def __init__(self, *, max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH) -> None:
        if max_line_length is not None and (type(max_line_length) is not int or max_line_length < 1):
            raise ValueError(f"max_line_length must be a positive integer or None, not {max_line_length!r}")
        self._limit = (1 << 63) - 1 if max_line_length is None else max_line_length
        self._utf8: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")("strict")
        # Bytes the fast path may still take (see the module docstring); `_origin - _budget` bytes
        # have been fed so far, so a fault is located in the stream, whatever the cuts.
        self._budget = min(self._limit, _MAX_BUDGET)
        self._origin = self._budget
        self._fault: DecodeFault | None = None
        self._checking = False  # the careful path is running: _line checks the data and stray limits
        self._dispatched = 0  # events returned by decode()/flush(): the position of a fault
        self._skip_lf = False  # the previous piece ended in "\r": a leading "\n" belongs to it
        self._started = False  # a leading byte-order mark is stripped once, per the standard
        # Held text comes as pieces, and blocks of _BLOCK pieces already joined; once there are
        # blocks, the last piece stays in the list, so the list is empty exactly when nothing is held.
        self._tail: list[str] = []  # the current unterminated line
        self._tail_blocks: list[str] = []
        self._tail_blocks_len = 0
        self._data: list[str] = []  # the pending event's data lines
        self._data_blocks: list[str] = []  # joined with "\n"
        self._data_blocks_size = 0  # sizes count each line plus one, for the "\n" that joins it
        self._data_size = 0  # exact only while the careful path runs
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        # The pending event can be emitted as its bare data string: no type, id or retry, and no
        # data blocks. The fast path tests this one flag per blank line.
        self._plain = True
        self._stray: list[str] = []  # pending lines outside SSE framing
        self._stray_blocks: list[str] = []  # joined with "\n"
        self._stray_size = 0  # exact, counted as the data size is
        #: Set by ``flush``: the input ended inside a line or a UTF-8 character, not after a line end.
        self.ended_mid_line = False

    # ---------------------------------------------------------------- public API

    def decode(self, data: bytes) -> list[SSEItem]:
        """Decode one piece of the byte stream; return the items it completed."""
        return self._public(self.decode_compact(data))

    def flush(self) -> list[SSEItem]:
        """End of input: finish the last line and dispatch whatever is pending."""
        return self._public(self.flush_compact(), final=True)

    def _public(self, items: list[CompactItem], final: bool = False) -> list[SSEItem]:
        out: list[SSEItem] = []
        for item in items:
            if isinstance(item, str):
                item = ServerSentEvent(data=item)
            elif isinstance(item, DecodeFault):
                if out and not final:
                    break  # returned first; the next call gets [fault] from the compact API and raises
                # At the end of input there is no next call: the items completed before the fault
                # (an event the end of input ended, before a line cut inside a character) go with it.
                error = MalformedChunkError(item.message, position=self._dispatched + 1, raw=item.raw)
                error.items = out
                raise error
            if isinstance(item, ServerSentEvent):
                self._dispatched += 1
            out.append(item)
        return out

    # ---------------------------------------------------------------- compact API (the assembler's)

    def decode_compact(self, data: bytes) -> list[CompactItem]:
        """Like ``decode``, but a plain event (no type, id or retry: nearly every event of a chat
        stream) comes as its data string, so the hot path builds no object for it; and a fault
        comes as a ``DecodeFault``, last, after the items completed before it."""
        try:
            text = self._utf8.decode(data)
        except UnicodeDecodeError as exc:
            return self._decode_invalid(data, exc)
        size = len(data)
        budget = self._budget - size
        self._budget = budget
        if budget >= 0 and size <= _SLICE:
            return self._decode_fast(text)
        return self._decode_slow(text)

    def flush_compact(self) -> list[CompactItem]:
        """Like ``flush``, in the form of ``decode_compact``."""
        if self._fault is not None:
            return [self._fault]
        # Whether the input stopped inside a line (or a character): what the last item is then may
        # be cut short, which a reader tells apart from a malformed one (the assembler: incomplete).
        self.ended_mid_line = bool(self._utf8.getstate()[0]) or self._tail_may_be_data()
        try:
            # Yields "" or fails: only an incomplete character can be held.
            text = self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            # The input ended inside a character, so the line it is in was cut. What that line
            # belongs to is cut with it: the pending event, if it may be one more of its data
            # lines; the pending stray text, if it is stray text (any line that is no field, such
            # as one that begins with the cut character). A comment or an id/event/retry line is
            # read as far as it came, and ends what any end of input ends. The fault comes last.
            out: list[CompactItem] = []
            head = self._tail_head()
            if head.startswith((":", "id:", "retry:", "event:")):
                self._line(self._take_tail(""), out)
                self._dispatch(out)
                self._end_stray(out)
            elif not ("data:".startswith(head) or head.startswith("data:")) or not head:
                self._dispatch(out)  # a cut stray line: the stray block before it goes with it
            return out + self._decode_invalid(b"", exc)
        out = []
        end = self._origin - self._budget
        if not self._decode_text(text, end, out):
            return out
        if self._tail:
            self._data_size = self._data_held()
            self._checking = True
            line = self._take_tail("")
            try:
                self._line(line, out)
            except Overflow as exc:
                self._fail_overflow(exc.what, line, end, out)
                return out
            self._checking = False
        self._dispatch(out)
        self._end_stray(out)
        self._count_held()
        return out

    # ---------------------------------------------------------------- the two paths

    def _decode_fast(self, text: str) -> list[CompactItem]:
        """The hot path, for text that cannot pass any limit (see the module docstring)."""
        out: list[CompactItem] = []
        if not text:
            return out
        if self._skip_lf or not self._started:
            start = self._first_char(text, 0, len(text))
            if start:
                text = text[start:]
        if "\r" in text:
            if text.endswith("\r"):
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            if text:
                self._add_tail(text)
            return out
        lines = text.split("\n")
        if self._tail:
            if self._tail_blocks:
                lines[0] = self._take_tail(lines[0])
            else:
                self._tail.append(lines[0])
                lines[0] = "".join(self._tail)
        last = lines.pop()
        self._tail = [last] if last else []
        data = self._data
        for line in lines:
            # Nearly every line of a chat stream is "data: {...}" or the blank line after it.
            if line.startswith("data:"):
                if self._stray_size:
                    self._end_stray(out)
                data.append(line[6:] if line[5:6] == " " else line[5:])
            elif line:
                self._line(line, out)
            elif len(data) == 1 and self._plain:
                out.append(data.pop())
                if self._stray_size:
                    self._end_stray(out)
            else:
                self._line(line, out)
        if data and len(data) >= _BLOCK:
            self._compact_data()
        return out

    def _decode_slow(self, text: str) -> list[CompactItem]:
        """A piece over the budget or longer than ``_SLICE`` (or any piece after a fault)."""
        if self._fault is not None:
            return [self._fault]
        out: list[CompactItem] = []
        end = self._origin - self._budget - len(self._utf8.getstate()[0])  # the offset past `text`
        if self._decode_text(text, end, out):
            self._count_held()
        return out

    def _decode_text(self, text: str, end: int, out: list[CompactItem]) -> bool:
        """Decode ``text`` (which ends at stream byte ``end``) a slice at a time: by the fast path
        when the whole of it is within the budget, else by the careful path. False after a fault."""
        within = self._budget >= 0
        for begin in range(0, len(text), _SLICE):
            stop = min(begin + _SLICE, len(text))
            if within:
                out += self._decode_fast(text if stop - begin == len(text) else text[begin:stop])
            elif not self._decode_careful(text, begin, stop, end, out):
                return False
        return True

    def _decode_careful(self, text: str, pos: int, stop: int, end: int, out: list[CompactItem]) -> bool:
        """``text[pos:stop]`` one line at a time, every limit checked exactly. False after a fault."""
        pos = self._first_char(text, pos, stop)
        limit = self._limit
        tail_len = self._tail_held()
        self._data_size = self._data_held()
        self._checking = True
        for match in _LINE_END.finditer(text, pos, stop):
            cut = match.start()
            if tail_len + cut - pos > limit:
                self._fail_long_line(text, pos, end, out)
                return False
            if tail_len:
                line = self._take_tail(text[pos:cut])
                tail_len = 0
            else:
                line = text[pos:cut]
            try:
                self._line(line, out)
            except Overflow as exc:
                self._fail_overflow(exc.what, line, end - utf8_length(text, cut), out)
                return False
            pos = match.end()
        if stop > pos:
            if tail_len + stop - pos > limit:
                self._fail_long_line(text, pos, end, out)
                return False
            self._add_tail(text[pos:stop])
        self._checking = False
        self._skip_lf = text[stop - 1] == "\r"  # a "\r" at the end is a line end, matched above
        return True

    def _decode_invalid(self, data: bytes, exc: UnicodeDecodeError) -> list[CompactItem]:
        """A piece with invalid UTF-8: the characters before the first invalid byte are decoded
        (their lines processed), then the fault, located in the stream at that byte."""
        # exc.object is the partial character held from the previous piece, then this piece.
        at = self._origin - self._budget - (len(exc.object) - len(data)) + exc.start
        self._budget -= len(data)
        out: list[CompactItem] = []
        # What comes before exc.start is whole characters: the decoder stops at the start of the
        # first invalid or truncated sequence, and where that is does not depend on the cuts.
        if not self._decode_text(exc.object[: exc.start].decode("utf-8"), at, out):
            return out
        message, raw = invalid_utf8(exc, at, self._tail_blocks, self._tail)
        self._fail("utf8", message, raw, out)
        return out

    def _count_held(self) -> None:
        """Count what is held and set the budget from it. The sum, since text moves between them
        (a line ends and becomes data), so each of the three stays within the limit."""
        held = self._tail_held() + self._data_held() + self._stray_size
        fed = self._origin - self._budget
        self._budget = min(self._limit - held, _MAX_BUDGET)
        self._origin = fed + self._budget

    def _tail_head(self) -> str:
        """The first characters of the unterminated line held ("" when none)."""
        return "".join([*self._tail_blocks[:1], *self._tail[:8]])[:7] if self._tail else ""

    def _tail_may_be_data(self) -> bool:
        """Whether the unterminated line held may be part of an event's data or of stray text: a
        comment, or a whole `id:`, `retry:` or `event:` field name, cannot change a payload."""
        head = self._tail_head()
        return bool(head) and not head.startswith((":", "id:", "retry:", "event:"))

    def _tail_held(self) -> int:
        return self._tail_blocks_len + sum(map(len, self._tail))

    def _data_held(self) -> int:
        """The size of the pending data: the length of its lines joined, plus one."""
        return self._data_blocks_size + sum(map(len, self._data)) + len(self._data)

    # ---------------------------------------------------------------- lines and fields

    def _first_char(self, text: str, pos: int, stop: int) -> int:
        """Where the lines of ``text[pos:stop]`` begin: past the stream's byte-order mark (stripped
        once, per the standard) and the ``\\n`` of a ``\\r\\n`` that the previous piece cut."""
        if pos < stop and not self._started:
            self._started = True
            if text[pos] == "\ufeff":
                pos += 1
        if pos < stop and self._skip_lf:
            self._skip_lf = False
            if text[pos] == "\n":
                pos += 1
        return pos

    def _line(self, line: str, out: list[CompactItem]) -> None:
        """One whole line, any kind. While the careful path runs, raises ``_Overflow`` (before the
        line has any effect) when the line would bring its event's data or stray block past the limit."""
        if not line:
            # Stray lines pending here came after this event's data lines, so they follow it.
            self._dispatch(out)
            self._end_stray(out)
            return
        if line.startswith("data:"):
            self._add_data(line[6:] if line[5:6] == " " else line[5:], out)
            return
        if line[0] == ":":
            return  # comment / keep-alive
        name, colon, value = line.partition(":")
        if name not in _KNOWN_FIELDS:
            if not line.strip(" \t"):
                return  # spaces or tabs alone: a field no one names, which the standard ignores
            if _chunk_line(line):
                # JSON lines (a log of chunks without SSE framing): each line is a block of its own.
                # Gathered into one block they could not be read; a block of several lines is a
                # pretty-printed error body, whose lines are never a chunk on their own. An event
                # whose data lines still wait for their blank line ends here, and stray lines
                # pending after it go next: the chunk line follows both, never jumps ahead (not
                # even past a `[DONE]`).
                self._dispatch(out)
                self._end_stray(out)
                self._add_stray(line)
                self._end_stray(out)
                return
            self._add_stray(line)
            return
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":  # "data" without a colon: an empty data line
            self._add_data(value, out)
            return
        self._end_stray(out)
        if name == "event":
            self._event = value
            self._plain = False
        elif name == "id":
            if "\x00" not in value:  # per the standard, an id with NUL is ignored
                self._id = value
                self._plain = False
        elif value.isascii() and value.isdigit() and len(value) <= _MAX_RETRY_DIGITS:
            self._retry = int(value)  # "retry": any other value is ignored, per the standard
            self._plain = False

    def _add_data(self, value: str, out: list[CompactItem]) -> None:
        if self._checking:
            size = self._data_size + len(value) + 1
            if size > self._limit + 1:  # the joined data would be longer than the limit
                raise Overflow("data")
            self._data_size = size
        self._end_stray(out)
        self._data.append(value)
        if len(self._data) >= _BLOCK:
            self._compact_data()

    def _compact_data(self) -> None:
        block = "\n".join(self._data[:-1])
        self._data_blocks.append(block)
        self._data_blocks_size += len(block) + 1
        del self._data[:-1]  # in place: the decoding loop holds a reference
        self._plain = False

    def _add_stray(self, line: str) -> None:
        size = self._stray_size + len(line) + 1
        if self._checking and size > self._limit + 1:
            raise Overflow("stray")
        self._stray_size = size
        self._stray.append(line)
        if len(self._stray) >= _BLOCK:
            self._stray_blocks.append("\n".join(self._stray[:-1]))
            del self._stray[:-1]

    def _add_tail(self, piece: str) -> None:
        tail = self._tail
        tail.append(piece)
        if len(tail) >= _BLOCK:
            block = "".join(tail[:-1])
            self._tail_blocks.append(block)
            self._tail_blocks_len += len(block)
            del tail[:-1]

    def _take_tail(self, end: str) -> str:
        """The held start of a line joined with its ``end``; nothing is held after."""
        line = _joined(self._tail_blocks, self._tail, end, "")
        self._tail = []
        self._tail_blocks = []
        self._tail_blocks_len = 0
        return line

    def _dispatch(self, out: list[CompactItem]) -> None:
        if self._data:
            text = _joined(self._data_blocks, self._data, None, "\n")
            if self._event is None and self._id is None and self._retry is None:
                out.append(text)
            else:
                out.append(ServerSentEvent(data=text, event=self._event, id=self._id, retry=self._retry))
            self._data.clear()  # cleared in place: the decoding loop holds a reference
            self._data_blocks = []
            self._data_blocks_size = 0
        elif self._event == "error":
            # A departure, like stray lines: the standard drops an event without data, but an
            # `event: error` frame is the server saying the stream failed (Groq's form). Dropped, a
            # failed stream could pass for a complete one, so it is dispatched with empty data.
            out.append(ServerSentEvent(data="", event="error", id=self._id, retry=self._retry))
        self._data_size = 0
        # The event type resets after every blank line and so does the retry hint we attach to the
        # event; the last event id persists, per the standard.
        self._event = None
        self._retry = None
        self._plain = self._id is None

    def _end_stray(self, out: list[CompactItem]) -> None:
        if self._stray:
            out.append(StrayText(text=_joined(self._stray_blocks, self._stray, None, "\n")))
            self._stray = []
            self._stray_blocks = []
            self._stray_size = 0

    # ---------------------------------------------------------------- faults

    def _fail(self, kind: FaultKind, message: str, raw: str, out: list[CompactItem]) -> None:
        """Record the fault, append it to ``out``, drop everything held and stop decoding."""
        self._fault = DecodeFault(message=message, raw=raw, kind=kind)
        out.append(self._fault)
        self._utf8 = Stopped()
        self._budget = -1  # every later piece takes the slow path, which returns the fault
        self._tail, self._tail_blocks = [], []
        self._data, self._data_blocks = [], []
        self._stray, self._stray_blocks = [], []

    def _fail_long_line(self, text: str, pos: int, end: int, out: list[CompactItem]) -> None:
        """The line held in the tail and going on at ``text[pos]`` passed the limit."""
        message, raw = long_line(self._tail_blocks, self._tail, text, pos, end, self._limit)
        self._fail("line_too_long", message, raw, out)

    def _fail_overflow(self, what: str, line: str, line_end: int, out: list[CompactItem]) -> None:
        """``line``, ending at stream byte ``line_end``, would bring its event's data or its stray
        block past the limit."""
        message, raw = overflow(what, line, line_end, self._limit)
        self._fail("line_too_long", message, raw, out)


def _joined(blocks: list[str], pieces: list[str], end: str | None, separator: str) -> str:
    """The held text: its blocks, its pieces (and ``end``, when given), joined with ``separator``.

    Joins the pieces into one more block first, so the peak is about twice the text, not more.
    """
    if end is not None:
        pieces.append(end)
    if not blocks:
        return separator.join(pieces)
    blocks.append(separator.join(pieces))
    pieces.clear()
    return separator.join(blocks)
