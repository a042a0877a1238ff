"""Incremental Server-Sent Events decoding, standard library only.

Theory of operation
-------------------
Bytes arrive in arbitrary pieces. Three things can be cut by a piece boundary, and each is
handled without looking ahead:

* a multi-byte UTF-8 character: an incremental UTF-8 decoder keeps the partial character;
* a ``\\r\\n`` line ending: a trailing ``\\r`` ends the line at once, and a ``\\n`` that opens the
  next piece is then skipped (``_skip_lf``);
* a line: the unterminated tail is kept as a list of pieces and joined only when its end arrives,
  so a long line fed byte by byte costs linear time, not quadratic.

Lines follow the WHATWG event-stream rules: ``data`` lines accumulate, ``event``/``id``/``retry``
set fields, a line starting with ``:`` is a comment (OpenRouter's ``: OPENROUTER PROCESSING``
keep-alives), and a blank line dispatches the event.

One deliberate departure: the standard says to ignore a line whose field name is unknown, and
httpx-sse drops such lines silently. Vertex has been seen writing a raw JSON error body
(``[{"error": {"code": 499, "status": "CANCELLED", ...}}]``) outside any ``data:`` line, mid-stream,
sometimes pretty-printed over several lines. Dropping it would hide the failure, so consecutive
lines outside SSE framing are gathered and surfaced as one ``StrayText`` item, closed by the next
SSE line, a blank line, or the end of input. The assembler decides what the text means.

Another: an event still pending at the end of input (no closing blank line) is dispatched rather
than discarded, since recordings often lose the final blank line and the data is real.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent", "StrayText"]


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


SSEItem = ServerSentEvent | StrayText

_KNOWN_FIELDS = frozenset(("data", "event", "id", "retry"))


class SSEDecoder:
    """Bytes in, ``ServerSentEvent``/``StrayText`` items out. Call ``flush()`` at the end of input.

    Invalid UTF-8 raises ``UnicodeDecodeError``; the assembler turns it into ``MalformedChunkError``.
    """

    __slots__ = (
        "_data",
        "_event",
        "_id",
        "_retry",
        "_skip_lf",
        "_started",
        "_stray",
        "_tail",
        "_utf8",
    )

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._tail: list[str] = []  # pieces of the current unterminated line
        self._skip_lf = False  # the previous piece ended in "\r": a leading "\n" belongs to it
        self._started = False  # a leading byte-order mark is stripped once, per the standard
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._stray: list[str] = []

    def decode(self, data: bytes) -> list[SSEItem]:
        """Decode one piece of the byte stream; return the items it completed."""
        return [ServerSentEvent(data=i) if isinstance(i, str) else i for i in self.decode_compact(data)]

    def flush(self) -> list[SSEItem]:
        """End of input: finish the last line and dispatch whatever is pending."""
        return [ServerSentEvent(data=i) if isinstance(i, str) else i for i in self.flush_compact()]

    def decode_compact(self, data: bytes) -> list[str | SSEItem]:
        """Like ``decode``, but a plain event (no type, id or retry: nearly every event of a chat
        stream) comes as its data string, so the hot path builds no object for it."""
        return self._decode_text(self._utf8.decode(data))

    def flush_compact(self) -> list[str | SSEItem]:
        """Like ``flush``, in the form of ``decode_compact``."""
        out = self._decode_text(self._utf8.decode(b"", final=True))
        if self._tail:
            line = "".join(self._tail)
            self._tail = []
            self._line(line, out)
        self._dispatch(out)
        self._end_stray(out)
        return out

    def _decode_text(self, text: str) -> list[str | SSEItem]:
        out: list[str | SSEItem] = []
        if not text:
            return out
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        if "\r" in text:
            if text.endswith("\r"):
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            if text:
                self._tail.append(text)
            return out
        lines = text.split("\n")
        if self._tail:
            self._tail.append(lines[0])
            lines[0] = "".join(self._tail)
        last = lines.pop()
        self._tail = [last] if last else []
        data = self._data
        for line in lines:
            # Nearly every line of a chat stream is "data: {...}" or the blank line after it.
            if line.startswith("data:"):
                if self._stray:
                    self._end_stray(out)
                data.append(line[6:] if line[5:6] == " " else line[5:])
            elif line:
                self._line(line, out)
            elif len(data) == 1 and self._event is None and self._id is None and self._retry is None:
                out.append(data.pop())
                if self._stray:
                    self._end_stray(out)
            else:
                self._line(line, out)
        return out

    def _line(self, line: str, out: list[str | SSEItem]) -> None:
        if not line:
            # Stray lines pending here came after this event's data lines, so they follow it.
            self._dispatch(out)
            self._end_stray(out)
            return
        if line.startswith("data:"):
            self._end_stray(out)
            self._data.append(line[6:] if line[5:6] == " " else line[5:])
            return
        if line[0] == ":":
            return  # comment / keep-alive
        name, colon, value = line.partition(":")
        if name not in _KNOWN_FIELDS:
            self._stray.append(line)
            return
        self._end_stray(out)
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:  # per the standard, an id with NUL is ignored
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        else:  # "data" without a colon: an empty data line
            self._data.append(value)

    def _dispatch(self, out: list[str | SSEItem]) -> None:
        if self._data:
            text = "\n".join(self._data)
            if self._event is None and self._id is None and self._retry is None:
                out.append(text)
            else:
                out.append(ServerSentEvent(data=text, event=self._event, id=self._id, retry=self._retry))
            self._data.clear()  # cleared in place: the decoding loop holds a reference
        # The event type resets after every blank line and so does the retry hint we attach to the
        # event; the last event id persists, per the standard.
        self._event = None
        self._retry = None

    def _end_stray(self, out: list[str | SSEItem]) -> None:
        if self._stray:
            out.append(StrayText(text="\n".join(self._stray)))
            self._stray = []
