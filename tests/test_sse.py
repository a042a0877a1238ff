"""The SSE decoder: framing, split invariance, and lines outside SSE framing."""

from __future__ import annotations

import pytest

from chunkwise import ServerSentEvent, SSEDecoder, StrayText


def decode(*pieces: bytes) -> list[ServerSentEvent | StrayText]:
    decoder = SSEDecoder()
    out: list[ServerSentEvent | StrayText] = []
    for piece in pieces:
        out += decoder.decode(piece)
    return out + decoder.flush()


BODY = (
    '\ufeffdata: {"a": "é世🎉"}\r\n\r\n'
    ": keep-alive\r\n"
    "event: error\r\nid: 7\r\nretry: 1500\r\ndata: line one\r\ndata:line two\r\n\r\n"
    "data: [DONE]\n\n"
).encode()


def test_basic_framing() -> None:
    """data lines join with \\n, `event`/`id`/`retry` are read, comments and a leading BOM are skipped."""
    assert decode(BODY) == [
        ServerSentEvent(data='{"a": "é世🎉"}'),
        ServerSentEvent(data="line one\nline two", event="error", id="7", retry=1500),
        ServerSentEvent(data="[DONE]", id="7"),
    ]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_split_at_every_byte_gives_the_same_events(ending: str) -> None:
    """A split may fall inside a line, inside `\\r\\n`, or inside a multi-byte UTF-8 character."""
    body = BODY.decode().replace("\r\n", "\n").replace("\n", ending).encode()
    whole = decode(body)
    assert decode(*[body[i : i + 1] for i in range(len(body))]) == whole
    for cut in range(len(body)):
        assert decode(body[:cut], body[cut:]) == whole


def test_event_type_resets_after_dispatch() -> None:
    """`event:` applies to one event only."""
    events = decode(b"event: error\ndata: x\n\ndata: y\n\n")
    assert [(e.event, e.data) for e in events if isinstance(e, ServerSentEvent)] == [
        ("error", "x"),
        (None, "y"),
    ]


def test_pending_event_dispatched_at_end_of_input() -> None:
    """A last event without its closing blank line is real data: dispatched, not dropped."""
    assert decode(b"data: last") == [ServerSentEvent(data="last")]


def test_lines_outside_framing_surface_as_stray_text() -> None:
    """Vertex writes a raw (sometimes pretty-printed) JSON error body outside any `data:` line."""
    body = b'data: {"x": 1}\n\n[{\n  "error": {"code": 499}\n}\n]\ndata: {"y": 2}\n\n'
    assert decode(body) == [
        ServerSentEvent(data='{"x": 1}'),
        StrayText(text='[{\n  "error": {"code": 499}\n}\n]'),
        ServerSentEvent(data='{"y": 2}'),
    ]


def test_invalid_utf8_raises_unicode_error() -> None:
    """Invalid UTF-8 is not silently replaced (the assembler turns it into MalformedChunkError)."""
    with pytest.raises(UnicodeDecodeError):
        decode(b"data: \xff\n\n")


def test_long_line_fed_byte_by_byte_is_linear() -> None:
    """The unterminated tail is kept as pieces: a 200 kB line fed per byte is joined once."""
    payload = "x" * 200_000
    body = f"data: {payload}\n\n".encode()
    decoder = SSEDecoder()
    out: list[ServerSentEvent | StrayText] = []
    for i in range(len(body)):
        out += decoder.decode(body[i : i + 1])
    assert out == [ServerSentEvent(data=payload)]
