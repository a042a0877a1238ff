"""The `<tag>` thinking splitter."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from chunkwise._thinking import ANSWER, TAG, THINKING, ThinkTagSplitter

from helpers import cut_at


def split(pieces: list[str], tag: str = "think") -> tuple[str, str, str, bool]:
    splitter = ThinkTagSplitter(tag)
    segments = [s for p in pieces for s in splitter.feed(p)] + splitter.flush()
    thinking = "".join(t for k, t in segments if k == THINKING)
    answer = "".join(t for k, t in segments if k == ANSWER)
    everything = "".join(t for _, t in segments)
    return thinking, answer, everything, splitter.inside


def reference(text: str, tag: str = "think") -> tuple[str, str]:
    """The same split done on the whole text at once with a regular expression."""
    thinking, answer = [], []
    inside = False
    for part in re.split(f"(<{tag}>|</{tag}>)", text):
        if part == f"<{tag}>" and not inside:
            inside = True
        elif part == f"</{tag}>" and inside:
            inside = False
        else:
            (thinking if inside else answer).append(part)
    return "".join(thinking), "".join(answer)


def test_holds_back_only_a_possible_tag_start() -> None:
    """`<` alone is held; `<b` is released at once since it cannot start `<think>`."""
    splitter = ThinkTagSplitter("think")
    assert splitter.feed("a <") == [(ANSWER, "a ")]
    assert splitter.feed("b") == [(ANSWER, "<b")]
    assert splitter.feed("<thi") == []
    assert splitter.feed("nk>x") == [(TAG, "<think>"), (THINKING, "x")]


def test_closing_tag_outside_a_block_is_text() -> None:
    """Only the tag that can come next is a tag: a stray `</think>` before any `<think>` is answer text."""
    assert split(["</think>a"])[:2] == ("", "</think>a")


_ALPHABET = st.sampled_from(["<", "/", ">", "t", "h", "i", "n", "k", "x", " ", "é", "<think>", "</think>"])


@given(st.lists(_ALPHABET, max_size=40).map("".join), st.data())
def test_any_text_any_split(text: str, data: st.DataObject) -> None:
    """thinking + answer + tags == the content sent, and the split equals the whole-text reference."""
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=10)))
    pieces = cut_at(text, cuts)
    thinking, answer, everything, _ = split(pieces)
    assert everything == text
    assert (thinking, answer) == reference(text)
