"""Streamed text pieces: linear joining, and valid Unicode whatever the server escapes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chunkwise._text import BLOCK, Pieces, Tally, clean

from helpers import cut_at


def test_pieces_join_into_blocks() -> None:
    """Every BLOCK pieces are joined into one block, so small pieces do not each cost an object."""
    pieces = Pieces()
    tally = Tally()
    for i in range(BLOCK * 3 + 5):
        pieces.add(str(i % 10), tally)
    assert len(pieces.blocks) == 3 and len(pieces.pieces) == 5
    assert pieces.value() == "".join(str(i % 10) for i in range(BLOCK * 3 + 5))


def test_surrogate_pair_cut_between_pieces_is_one_character() -> None:
    """A high surrogate ending a piece waits for the low one opening the next: one character, no repair."""
    pieces, tally = Pieces(), Tally()
    assert pieces.add("a\ud83d", tally) == "a"
    assert pieces.add("\ude00b", tally) == "\U0001f600b"
    assert pieces.flush(tally) == ""
    assert pieces.value() == "a\U0001f600b" and tally.replaced == 0


def test_lone_surrogates_become_replacement_characters_and_are_counted() -> None:
    """A surrogate that completes no pair is U+FFFD, counted; one left at the end is settled by flush."""
    pieces, tally = Pieces(), Tally()
    pieces.add("\udc00x", tally)
    pieces.add("y\ud800", tally)
    assert pieces.flush(tally) == "\ufffd"
    assert pieces.value() == "\ufffdxy\ufffd" and tally.replaced == 2
    assert clean("ok", tally) == "ok" and tally.replaced == 2


_SURROGATE_TEXT = st.text(
    st.sampled_from(["a", "é", "\ud83d", "\ude00", "\ud800", "\udfff", "\ufffd", "😀"]), max_size=30
)


@given(_SURROGATE_TEXT, st.lists(st.integers(1, 29), max_size=6))
def test_the_text_does_not_depend_on_the_cuts_and_always_encodes(text: str, cuts: list[int]) -> None:
    """However the text is cut, the pieces give the same valid text, equal to what the appended parts add up to."""

    def through(parts: list[str]) -> tuple[str, str, int]:
        pieces, tally = Pieces(), Tally()
        added = "".join(pieces.add(p, tally) for p in parts) + pieces.flush(tally)
        return pieces.value(), added, tally.replaced

    whole = through([text] if text else [])
    value, added, _ = whole
    assert value == added
    value.encode("utf-8")
    assert through(cut_at(text, cuts)) == whole
    assert value == text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
