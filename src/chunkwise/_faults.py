"""The SSE decoder's faults: where one is in the stream, and the text it shows.

``_sse.py`` finds a fault and records it; the functions here only measure and quote, and change
nothing. Each returns the fault's message, which names its offset in bytes from the start of the
stream, and its ``raw`` excerpt of at most ``RAW`` characters; held text comes as the decoder keeps
it (``blocks``, then ``pieces``). ``Overflow`` is the careful path's signal that a limit would be
passed, and ``Stopped`` the decoder left after a fault. Nothing here runs before a fault is found.
"""

from __future__ import annotations

import codecs
from itertools import chain

RAW = 200  # characters of context in DecodeFault.raw


class Overflow(Exception):
    """``_line`` would bring the pending event's data (``what="data"``) or stray block past the limit."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Stopped(codecs.IncrementalDecoder):
    """Stands in for the UTF-8 decoder after a fault, so nothing more is decoded."""

    def decode(self, input: object, final: bool = False) -> str:
        return ""


def invalid_utf8(exc: UnicodeDecodeError, at: int, blocks: list[str], pieces: list[str]) -> tuple[str, str]:
    """The message and excerpt for the invalid bytes ``exc`` found at stream byte ``at``: the line held
    up to them, then the bytes themselves, each shown as U+FFFD."""
    bad = exc.object[exc.start : exc.end].decode("utf-8", "replace")
    raw = held_end(blocks, pieces, RAW - len(bad)) + bad
    return f"invalid UTF-8 ({exc.reason}) at byte {at} of the stream", raw


def long_line(
    blocks: list[str], pieces: list[str], text: str, pos: int, end: int, limit: int
) -> tuple[str, str]:
    """The message and excerpt for a line that passed ``limit``: its start is held and it goes on at
    ``text[pos]``; ``text`` ends at stream byte ``end``."""
    held = sum(utf8_length(piece) for piece in chain(blocks, pieces))
    at = end - utf8_length(text, pos) - held
    # Only limit + 1 characters of the line are sure to be known, whatever the cuts.
    want = min(RAW, limit + 1)
    head = held_start(blocks, pieces, want)
    raw = head + text[pos : pos + want - len(head)]
    return f"a line longer than {limit} characters at byte {at} of the stream", raw


def overflow(what: str, line: str, line_end: int, limit: int) -> tuple[str, str]:
    """The message and excerpt when ``line``, ending at stream byte ``line_end``, would bring its
    event's data or its stray block past ``limit``."""
    at = line_end - utf8_length(line)
    held = "an event's data" if what == "data" else "text outside SSE framing"
    return f"{held} longer than {limit} characters, at the line at byte {at} of the stream", line[:RAW]


def held_start(blocks: list[str], pieces: list[str], count: int) -> str:
    """The first ``count`` characters of the held text, from its first pieces only."""
    parts: list[str] = []
    have = 0
    for piece in chain(blocks, pieces):
        if have >= count:
            break
        parts.append(piece[: count - have])
        have += len(parts[-1])
    return "".join(parts)


def held_end(blocks: list[str], pieces: list[str], count: int) -> str:
    """The last ``count`` characters of the held text (the current line, up to a fault)."""
    parts: list[str] = []
    have = 0
    for piece in chain(reversed(pieces), reversed(blocks)):
        if have >= count:
            break
        parts.append(piece[len(piece) - min(len(piece), count - have) :])
        have += len(parts[-1])
    return "".join(reversed(parts))


def utf8_length(text: str, start: int = 0) -> int:
    """Bytes in the UTF-8 encoding of ``text[start:]``, encoded a megabyte at a time (faults only)."""
    step = 1 << 20
    return sum(len(text[i : i + step].encode("utf-8")) for i in range(start, len(text), step))
