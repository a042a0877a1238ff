"""Text that arrives in pieces (content, thinking, refusal, tool arguments), kept linear and valid.

Two rules live here, because every streamed text field needs both:

* **Linear**: pieces are appended to a list and joined once; every ``BLOCK`` pieces are joined into
  a block, so 100k one-token pieces cost about the text's own size, not twelve times it, and each
  character is copied a bounded number of times (behaviour.md §3).
* **Valid Unicode**: ``json.loads`` accepts lone surrogate escapes (``"\\ud83d"``), and a server may
  cut a surrogate pair between two chunks (``"\\ud83d"`` then ``"\\ude00"``). A string holding a lone
  surrogate cannot be encoded as UTF-8, so it would break every dump of the result. A piece that
  ends in a high surrogate holds it back until the next piece says whether it completes a pair; a
  surrogate that completes nothing becomes U+FFFD and is counted in ``Tally.replaced``, which the
  result reports (behaviour.md §11). ASCII pieces, nearly all of them, skip the check.
"""

from __future__ import annotations

import re

__all__ = ["BLOCK", "Cursor", "Pieces", "Tally", "clean"]

BLOCK = 512

#: Where a reader of ``Pieces.since`` stopped (see there).
Cursor = tuple[int, int, int, int, int]

_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


class Tally:
    """Per-stream counters shared by every room that repairs input (reported on the result)."""

    __slots__ = ("replaced",)

    def __init__(self) -> None:
        #: Lone surrogates replaced by U+FFFD.
        self.replaced = 0


def clean(text: str, tally: Tally) -> str:
    """``text`` as valid Unicode: surrogate pairs joined into one character, lone ones replaced.

    Callers skip this for ASCII text (``str.isascii`` is far cheaper than the search).
    """
    if _SURROGATE.search(text) is None:
        return text
    fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    tally.replaced += fixed.count(_REPLACEMENT) - text.count(_REPLACEMENT)
    return fixed


class Pieces:
    """One streamed text field: ``add`` pieces, read ``value()`` (joined once, cached as a block)."""

    __slots__ = ("blocks", "high", "merges", "pieces")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.blocks: list[str] = []
        #: A high surrogate that ended the last piece, waiting for its pair ("" when none).
        self.high = ""
        #: How many times ``value`` joined the blocks into one (a ``since`` cursor from before is stale).
        self.merges = 0

    def add(self, text: str, tally: Tally) -> str:
        """Append ``text``; return what was appended (what a delta event should carry).

        The result may be shorter than ``text`` (a trailing high surrogate held back) or longer (one
        held back earlier, now released), and is "" when nothing could be appended yet.
        """
        if self.high or not text.isascii():
            text = self._unicode(text, tally)
            if not text:
                return text
        pieces = self.pieces
        pieces.append(text)
        if len(pieces) >= BLOCK:
            self.compact()
        return text

    def _unicode(self, text: str, tally: Tally) -> str:
        if self.high:
            text = self.high + text
            self.high = ""
        last = text[-1:]
        if "\ud800" <= last <= "\udbff":
            # Maybe the first half of a pair whose second half opens the next chunk.
            self.high = last
            text = text[:-1]
        return clean(text, tally)

    def flush(self, tally: Tally) -> str:
        """End of the field: a held-back high surrogate had no pair; it becomes U+FFFD."""
        if not self.high:
            return ""
        self.high = ""
        tally.replaced += 1
        self.pieces.append(_REPLACEMENT)
        return _REPLACEMENT

    def empty(self) -> bool:
        """Whether nothing has been added yet: without joining anything (a join per fragment would
        make a long stream quadratic)."""
        return not self.pieces and not self.blocks and not self.high

    def compact(self) -> None:
        self.blocks.append("".join(self.pieces))
        self.pieces = []

    def value(self) -> str:
        """The text so far (without a held-back half pair, which ``flush`` settles)."""
        if self.pieces:
            self.compact()
        if len(self.blocks) > 1:
            self.blocks = ["".join(self.blocks)]
            self.merges += 1
        return self.blocks[0] if self.blocks else ""

    def since(self, cursor: Cursor | None) -> tuple[str, Cursor]:
        """The text added after ``cursor`` (None: from the start), and the cursor for the next call.

        Costs the new text's size, not the whole text's, so a reader that asks after every chunk
        (the partial JSON parse of an answer) stays linear. A cursor is (merges, blocks, pieces,
        run, total) as they were when it was made: ``run`` counts the characters of the pieces then
        held, which a compaction since has made the head of block ``blocks``; ``total`` counts all.
        After a ``value`` that joined the blocks (a snapshot), the text is sliced by ``total``: that
        join cost as much already.
        """
        merges, blocks, count, run, total = cursor if cursor is not None else (self.merges, 0, 0, 0, 0)
        if merges != self.merges:
            text = self.value()[total:]
            run = 0
        elif blocks == len(self.blocks):
            text = "".join(self.pieces[count:])
            run += len(text)
        else:
            tail = "".join(self.pieces)
            text = "".join([self.blocks[blocks][run:], *self.blocks[blocks + 1 :], tail])
            run = len(tail)
        return text, (self.merges, len(self.blocks), len(self.pieces), run, total + len(text))
