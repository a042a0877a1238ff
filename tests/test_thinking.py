"""The `<tag>` thinking splitter."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chunkwise
from chunkwise._thinking import ANSWER, TAG, THINKING, ThinkTagSplitter

from helpers import cut_at


def split(pieces: list[str], tag: str = "think", opened: bool = False) -> tuple[str, str, str, bool]:
    splitter = ThinkTagSplitter(tag, opened)
    segments = [s for p in pieces for s in splitter.feed(p)] + splitter.flush()
    thinking = "".join(t for k, t in segments if k == THINKING)
    answer = "".join(t for k, t in segments if k == ANSWER)
    everything = "".join(t for _, t in segments)
    return thinking, answer, everything, splitter.inside


def reference(text: str, tag: str = "think", opened: bool = False) -> tuple[str, str]:
    """The same split done on the whole text at once with a regular expression. ``opened``: the text
    begins inside a block, whose own opening tag may still begin it."""
    thinking, answer = [], []
    inside = opened
    if opened and text.startswith(f"<{tag}>"):
        text = text[len(tag) + 2 :]
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


@given(st.lists(_ALPHABET, max_size=40).map("".join), st.data())
def test_opened_any_text_any_split(text: str, data: st.DataObject) -> None:
    """`thought_open`: the text begins inside a block (the prompt opened it). Every cut gives the
    whole-text reference, and nothing sent is lost: thinking + answer + tags == the text."""
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=10)))
    pieces = cut_at(text, cuts)
    thinking, answer, everything, _ = split(pieces, opened=True)
    assert everything == text
    assert (thinking, answer) == reference(text, opened=True)
    # Through the assembler too (its own fast path for pieces without `<`), events included.
    message, events = _run_deltas([{"content": p} for p in pieces], thought_tag="think", thought_open=True)
    assert (message.reasoning_content or "", message.content or "") == (thinking, answer)
    assert _texts(events)[0] == thinking


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["Okay, 2+2.", "\n</think>\n\n4"], ("Okay, 2+2.\n", "\n\n4", False)),  # the R1-distill shape
        (["<thi", "nk>x</th", "ink>y"], ("x", "y", False)),  # the model wrote the tag anyway
        (["a", "<think>b", "</think>c"], ("a<think>b", "c", False)),  # not at the start: thinking text
        (["no close at all"], ("no close at all", "", True)),  # all thinking, reported unterminated
        (["", "<think>", "x</think>y"], ("x", "y", False)),
    ],
)
def test_thought_open_through_the_assembler(pieces: list[str], expected: tuple[str, str, bool]) -> None:
    """A stream whose chat template opened `<think>` has only the closing tag (DeepSeek-R1 distills
    and QwQ on a server without a reasoning parser): with `thought_open`, what comes before it is
    thinking, in the result and in the events; dicts and bytes alike (hostile review)."""
    deltas = [{"content": p} for p in pieces]
    body = _sse_contents(*deltas)
    assembler = chunkwise.StreamAssembler(thought_tag="think", thought_open=True)
    events = assembler.feed_bytes(body) + assembler.close()
    message = assembler.completion.choices[0].message
    assert (message.reasoning_content or "", message.content or "", message.thinking_unterminated) == expected
    assert "".join(e.delta for e in events if isinstance(e, chunkwise.ReasoningDelta)) == expected[0]
    assert "".join(e.delta for e in events if isinstance(e, chunkwise.ContentDelta)) == expected[1]
    assert chunkwise.assemble(body, thought_tag="think", thought_open=True) == assembler.completion
    with pytest.raises(ValueError, match="needs thought_tag"):
        chunkwise.StreamAssembler(thought_open=True)


def _run_deltas(
    deltas: list[dict[str, object]], **options: object
) -> tuple[chunkwise.Message, list[chunkwise.Event]]:
    """Each delta fed as one chunk of choice 0, then a `stop` finish and `close()`: the message, all events."""
    assembler = chunkwise.StreamAssembler(**options)  # type: ignore[arg-type]
    events = [e for d in deltas for e in assembler.feed({"choices": [{"index": 0, "delta": d}]})]
    events += assembler.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events += assembler.close()
    return assembler.completion.choices[0].message, events


def _run_bytes(
    body: bytes, size: int, tag: str | None
) -> tuple[chunkwise.ChatCompletion, list[chunkwise.Event]]:
    """``body`` fed to ``feed_bytes`` in pieces of ``size`` bytes, then ``close()``."""
    assembler = chunkwise.StreamAssembler(thought_tag=tag)
    events = []
    for start in range(0, len(body), size):
        events += assembler.feed_bytes(body[start : start + size])
    events += assembler.close()
    return assembler.completion, events


def _texts(events: list[chunkwise.Event]) -> tuple[str, str]:
    """The thinking and the answer the events add up to."""
    thinking = "".join(e.delta for e in events if isinstance(e, chunkwise.ReasoningDelta))
    return thinking, "".join(e.delta for e in events if isinstance(e, chunkwise.ContentDelta))


def _sse_contents(*deltas: dict[str, object]) -> bytes:
    return (
        b"".join(
            b"data: " + json.dumps({"choices": [{"index": 0, "delta": d}]}).encode() + b"\n\n" for d in deltas
        )
        + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    )


@pytest.mark.parametrize(
    ("deltas", "tag"),
    [
        # The configured tag: the halves of an emoji on either side of a thought block.
        (({"content": "x\ud83d"}, {"content": "<think>y</think>"}, {"content": "\ude00z"}), "think"),
        (({"content": "x\ud83d<thi"}, {"content": "nk>y</think>\ude00z"}), "think"),
        # Gemini's flagged thinking between them.
        (
            (
                {"content": "x\ud83d"},
                {"content": "<thought>y", "extra_content": {"google": {"thought": True}}},
                {"content": "</thought>\ude00z"},
            ),
            None,
        ),
    ],
)
def test_halves_of_a_pair_split_by_thinking_do_not_join(
    deltas: tuple[dict[str, object], ...], tag: str | None
) -> None:
    """A high surrogate at the end of the answer, thinking (or a tag) in between, then a low one: the
    halves were not next to each other in the content as sent, so each is a lone surrogate (§11.5),
    U+FFFD twice, counted; the events add up, however the bytes are cut. (A review found them joined
    into an emoji the server never sent: the answer held its half through the thought block.)"""
    body = _sse_contents(*deltas)
    for size in (len(body), 7, 1):
        completion, events = _run_bytes(body, size, tag)
        message = completion.choices[0].message
        assert (message.content, message.reasoning_content) == ("x\ufffd\ufffdz", "y")
        assert completion.replaced_characters == 2
        assert "".join(e.delta for e in events if isinstance(e, chunkwise.ContentDelta)) == message.content


def test_halves_of_a_pair_in_the_answer_still_join() -> None:
    """The control: next to each other in the answer, across chunks and around a thought block that
    ended before them, they make one character."""
    body = _sse_contents({"content": "<think>y</think>x\ud83d"}, {"content": "\ude00z"})
    completion = chunkwise.assemble(body, thought_tag="think")
    assert completion.choices[0].message.content == "x\U0001f600z"
    assert completion.replaced_characters == 0


@pytest.mark.parametrize(
    ("deltas", "tag", "expected"),
    [
        # A Mistral thinking part between two text halves, and the mirror.
        (
            (
                {"content": [{"type": "text", "text": "x\ud83d"}]},
                {"content": [{"type": "thinking", "thinking": "y"}]},
                {"content": [{"type": "text", "text": "\ude00z"}]},
            ),
            None,
            ("x\ufffd\ufffdz", "y"),
        ),
        (
            (
                {"content": [{"type": "thinking", "thinking": "a\ud83d"}]},
                {"content": [{"type": "text", "text": "t"}]},
                {"content": [{"type": "thinking", "thinking": "\ude00b"}]},
            ),
            None,
            ("t", "a\ufffd\ufffdb"),
        ),
        # Answer text between two flagged thinking halves, whatever tag is configured.
        *(
            (
                (
                    {"content": "y\ud83d", "extra_content": {"google": {"thought": True}}},
                    {"content": "z"},
                    {"content": "\ude00w", "extra_content": {"google": {"thought": True}}},
                ),
                tag,
                ("z", "y\ufffd\ufffdw"),
            )
            for tag in (None, "think", "thought")
        ),
    ],
)
def test_every_way_content_splits_parts_the_halves_between(
    deltas: tuple[dict[str, object], ...], tag: str | None, expected: tuple[str, str]
) -> None:
    """One rule for every way content is split into answer and thinking (tags, Gemini's flag,
    Mistral's parts): half a pair held on one side joins only that side's next piece of content, and
    only if nothing came between. (A final review found the parts and the flag each joining them.)"""
    body = _sse_contents(*deltas)
    for size in (len(body), 5, 1):
        completion, events = _run_bytes(body, size, tag)
        message = completion.choices[0].message
        assert (message.content, message.reasoning_content) == expected
        assert completion.replaced_characters == 2
        assert "".join(e.delta for e in events if isinstance(e, chunkwise.ReasoningDelta)) == expected[1]


def test_halves_in_adjacent_text_parts_still_join() -> None:
    body = _sse_contents({"content": "x\ud83d"}, {"content": [{"type": "text", "text": "\ude00z"}]})
    completion = chunkwise.assemble(body)
    assert completion.choices[0].message.content == "x\U0001f600z"


def flag_reference(pieces: list[tuple[str, bool]], tag: str | None = None) -> tuple[str, str, bool]:
    """Gemini's flag decides, character by character (§4.5), written over the whole content at once.

    A flagged character is thinking, an unflagged one answer, less the block's tags: `<thought>` all
    flagged opens the block, and `</thought>` closes it if it starts on a flagged character or on the
    first unflagged one after them (whatever flags its other characters have). Any other unflagged
    character ends the block, and is split by the configured ``tag``: its tags count only when all
    their characters are unflagged (flagged text between parts of one is no tag). Returns
    (thinking, answer, a block still open).
    """
    text = "".join(t for t, _ in pieces)
    flags = [f for t, f in pieces for _ in t]
    opening, closing = "<thought>", "</thought>"
    tagged = (f"<{tag}>", f"</{tag}>") if tag else None
    thinking, answer = [], []
    inside, tag_inside, i = False, False, 0

    def unflagged(at: int, length: int) -> bool:
        return at + length <= len(text) and not any(flags[at : at + length])

    while i < len(text):
        if flags[i]:
            if not inside and text.startswith(opening, i) and all(flags[i : i + len(opening)]):
                inside, i = True, i + len(opening)
            elif inside and text.startswith(closing, i):
                inside, i = False, i + len(closing)
            else:
                thinking.append(text[i])
                i += 1
            continue
        if inside and i > 0 and flags[i - 1] and text.startswith(closing, i):
            inside, i = False, i + len(closing)
            continue
        inside = False
        if tagged is not None:
            wanted = tagged[1] if tag_inside else tagged[0]
            if text.startswith(wanted, i) and unflagged(i, len(wanted)):
                tag_inside, i = not tag_inside, i + len(wanted)
                continue
        (thinking if tag_inside else answer).append(text[i])
        i += 1
    return "".join(thinking), "".join(answer), inside or tag_inside


_FLAG_TEXT = st.lists(
    st.sampled_from(
        [
            "<thought>",
            "</thought>",
            "<think>",
            "</think>",
            "<",
            "</",
            "/",
            "tho",
            "ught>",
            "thi",
            "nk>",
            ">",
            "a",
            " ",
            "é",
        ]
    ),
    max_size=6,
).map("".join)


@given(
    st.lists(st.tuples(_FLAG_TEXT, st.booleans()), max_size=8), st.sampled_from([None, "think", "thought"])
)
def test_the_thought_flag_decides_each_character(pieces: list[tuple[str, bool]], tag: str | None) -> None:
    """Flagged and unflagged content in any order, tags cut anywhere, across changes of flag: every
    character goes where its flag says, less the block's tags, and unflagged text is split by the
    configured tag, as the whole-content reference says; the events add up to it. (Reviews found a
    flagged `<` held back going to the answer, and an unflagged `<` held by the configured tag's
    splitter coming out after the flagged text that followed it.)"""
    google = {"google": {"thought": True}}
    deltas = [{"content": t, **({"extra_content": google} if f else {})} for t, f in pieces]
    message, events = _run_deltas(deltas, thought_tag=tag)
    thinking, answer, open_ = flag_reference(pieces, tag)
    assert (message.reasoning_content or "", message.content or "") == (thinking, answer)
    assert message.thinking_unterminated == (open_ and bool(thinking))  # reported with thinking (4.4)
    assert _texts(events) == (thinking, answer)


def test_flagged_text_comes_after_what_the_configured_tag_held_back() -> None:
    """The configured tag's splitter held "<" (it may begin `</think>`) when flagged text came: the
    `<` was released at the end, after that text, and two halves of a pair it parted were joined
    (a review of the flag rule; §4.6, §11.5)."""
    google = {"google": {"thought": True}}
    for tag, deltas, expected in [
        ("think", [{"content": "<think>a <"}, {"content": "b", "extra_content": google}], "a <b"),
        (
            "thought",
            [
                {"content": "<thought>\ud83d"},
                {"content": "</"},
                {"content": "\ude00", "extra_content": google},
            ],
            "\ufffd</\ufffd",
        ),
    ]:
        message, events = _run_deltas(deltas, thought_tag=tag)
        assert message.reasoning_content == expected
        assert _texts(events)[0] == expected


def test_thought_open_reports_unterminated_only_with_thinking_and_flagged_text_begins_the_content() -> None:
    """A turn of tool calls with `thought_open` has no thinking: it was reported unterminated with no
    `ReasoningDone` to say so (events and result disagreed). Gemini-flagged text begins the content
    too: an unflagged `<think>` after it is thinking text, as when all is unflagged (a review)."""
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    for deltas in ([{"role": "assistant", "tool_calls": [call]}], [{"content": "<think>"}]):
        message, events = _run_deltas(deltas, thought_tag="think", thought_open=True)
        assert not message.thinking_unterminated
        assert not [e for e in events if isinstance(e, chunkwise.ReasoningDone)]
    google = {"google": {"thought": True}}
    results = []
    for first in ({"content": "x", "extra_content": google}, {"content": "x"}):
        message, _ = _run_deltas(
            [first, {"content": "<think>y</think>z"}], thought_tag="think", thought_open=True
        )
        results.append((message.reasoning_content, message.content))
    assert results == [("x<think>y", "z"), ("x<think>y", "z")]
