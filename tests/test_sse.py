"""The SSE decoder: framing, split invariance, lines outside SSE framing, and hostile input."""

from __future__ import annotations

import base64
import re
import time
import tracemalloc
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkwise import MalformedChunkError, ServerSentEvent, SSEDecoder, StrayText, _sse
from chunkwise._sse import DEFAULT_MAX_LINE_LENGTH, CompactItem, DecodeFault

from helpers import cut_at


def decode(*pieces: bytes) -> list[ServerSentEvent | StrayText]:
    decoder = SSEDecoder()
    out: list[ServerSentEvent | StrayText] = []
    for piece in pieces:
        out += decoder.decode(piece)
    return out + decoder.flush()


def compact(pieces: list[bytes], max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH) -> list[CompactItem]:
    """The compact items of a stream fed in `pieces`, up to and including the first fault."""
    decoder = SSEDecoder(max_line_length=max_line_length)
    out: list[CompactItem] = []
    for piece in pieces:
        out += decoder.decode_compact(piece)
        if out and isinstance(out[-1], DecodeFault):
            return out
    return out + decoder.flush_compact()


def fault_offset(fault: CompactItem) -> int:
    """The stream byte offset a fault's message names."""
    assert isinstance(fault, DecodeFault)
    found = re.search(r"at byte (\d+) of the stream", fault.message)
    assert found is not None, fault.message
    return int(found.group(1))


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


def test_id_with_nul_is_ignored() -> None:
    """Per the standard, an `id` containing NUL leaves the last event id unchanged."""
    assert decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [
        ServerSentEvent(data="a", id="1"),
        ServerSentEvent(data="b", id="1"),
    ]


def test_lines_outside_framing_surface_as_stray_text() -> None:
    """Vertex writes a raw (sometimes pretty-printed) JSON error body outside any `data:` line."""
    body = b'data: {"x": 1}\n\n[{\n  "error": {"code": 499}\n}\n]\ndata: {"y": 2}\n\n'
    assert decode(body) == [
        ServerSentEvent(data='{"x": 1}'),
        StrayText(text='[{\n  "error": {"code": 499}\n}\n]'),
        ServerSentEvent(data='{"y": 2}'),
    ]


def test_long_line_fed_byte_by_byte_is_linear() -> None:
    """The unterminated tail is kept as pieces: a line ten times longer, fed per byte, takes about ten
    times as long (joined once, not re-joined per piece, which would take about a hundred times)."""

    def fed_per_byte(size: int) -> float:
        body = b"data: " + b"x" * size + b"\n\n"
        best = float("inf")
        for _ in range(3):
            decoder = SSEDecoder()
            start = time.perf_counter()
            out = [item for i in range(len(body)) for item in decoder.decode(body[i : i + 1])]
            best = min(best, time.perf_counter() - start)
            assert out == [ServerSentEvent(data="x" * size)]
        return best

    ratio = fed_per_byte(200_000) / fed_per_byte(20_000)
    assert ratio < 30, f"200k/20k = {ratio:.1f}"


# ---------------------------------------------------------------- faults, one by one


def test_huge_retry_is_ignored() -> None:
    """A `retry:` of 5000 digits is an invalid retry, ignored per the standard, never a ValueError."""
    body = b"retry: " + b"9" * 5000 + b"\ndata: x\n\n"
    assert decode(body) == [ServerSentEvent(data="x")]


def test_retry_keeps_at_most_18_digits() -> None:
    """18 digits are a valid retry; 19 are ignored (the value could pass a signed 64-bit integer)."""
    assert decode(b"retry: " + b"9" * 18 + b"\ndata: x\n\n") == [ServerSentEvent(data="x", retry=10**18 - 1)]
    assert decode(b"retry: " + b"9" * 19 + b"\ndata: x\n\n") == [ServerSentEvent(data="x")]


@pytest.mark.parametrize("cut", [None, 3, 10, 18, 19])
def test_invalid_utf8_keeps_what_came_before_it(cut: int | None) -> None:
    """Events completed before an invalid byte are returned, then the fault, wherever the piece was cut."""
    body = b"data: a\n\ndata: b\n\n\xffdata: c\n\n"
    pieces = [body] if cut is None else [body[:cut], body[cut:]]
    fault = DecodeFault(
        message="invalid UTF-8 (invalid start byte) at byte 18 of the stream", raw="\ufffd", kind="utf8"
    )
    assert compact(pieces) == ["a", "b", fault]


def test_invalid_utf8_after_a_held_partial_character() -> None:
    """A partial character held from the previous piece is counted in the fault's stream offset."""
    decoder = SSEDecoder()
    assert decoder.decode_compact(b"data: \xe4\xb8") == []
    [fault] = decoder.decode_compact(b"A\n\n")
    assert fault == DecodeFault(
        message="invalid UTF-8 (invalid continuation byte) at byte 6 of the stream",
        raw="data: \ufffd",
        kind="utf8",
    )


def test_a_fault_stops_the_decoder() -> None:
    """After a fault, every call returns the same fault again and decodes nothing."""
    decoder = SSEDecoder()
    [fault] = decoder.decode_compact(b"data: \xff\n\n")
    assert decoder.decode_compact(b"data: fine\n\n") == [fault]
    assert decoder.decode_compact(b"\xff") == [fault]
    assert decoder.flush_compact() == [fault]


def test_truncated_character_at_the_end_is_a_fault() -> None:
    """A multi-byte character cut by the end of input is invalid UTF-8, found by flush."""
    decoder = SSEDecoder()
    assert decoder.decode_compact(b"data: a\n\ndata: \xe4\xb8") == ["a"]
    assert decoder.flush_compact() == [
        DecodeFault(
            message="invalid UTF-8 (unexpected end of data) at byte 15 of the stream",
            raw="data: \ufffd",
            kind="utf8",
        )
    ]


def test_line_too_long() -> None:
    """A line longer than max_line_length is a fault at its first byte; raw is its first limit + 1 characters."""
    body = b"data: a\n\n" + b"x" * 80 + b"\n"
    fault = DecodeFault(
        message="a line longer than 50 characters at byte 9 of the stream", raw="x" * 51, kind="line_too_long"
    )
    assert compact([body], max_line_length=50) == ["a", fault]
    assert compact([body[:40], body[40:60]], max_line_length=50) == ["a", fault]  # found before its end


@pytest.mark.parametrize(
    ("body", "faults"),
    [
        (b"x" * 50 + b"\n", False),
        (b"x" * 51 + b"\n", True),
        (b"data: " + b"a" * 24 + b"\ndata: " + b"b" * 25 + b"\n\n", False),  # joined: 24 + 1 + 25
        (b"data: " + b"a" * 25 + b"\ndata: " + b"b" * 25 + b"\n\n", True),
        (b"{" * 24 + b"\n" + b"}" * 25 + b"\n\n", False),
        (b"{" * 25 + b"\n" + b"}" * 25 + b"\n\n", True),
    ],
)
def test_limits_are_exact(body: bytes, faults: bool) -> None:
    """A line, an event's data, a stray block of exactly max_line_length characters pass; one more faults."""
    for pieces in ([body], [body[i : i + 1] for i in range(len(body))]):
        out = compact(pieces, max_line_length=50)
        assert isinstance(out[-1], DecodeFault) is faults


def test_event_data_too_long() -> None:
    """The data lines of one event are bounded together: the line that passes the limit is the fault."""
    body = b"data: " + b"a" * 30 + b"\ndata: " + b"b" * 30 + b"\n\n"
    [fault] = compact([body], max_line_length=50)
    assert fault == DecodeFault(
        message="an event's data longer than 50 characters, at the line at byte 37 of the stream",
        raw="data: " + "b" * 30,
        kind="line_too_long",
    )


def test_stray_text_too_long() -> None:
    """Consecutive lines outside SSE framing are bounded together, as one StrayText would be."""
    body = b"data: ok\n\n" + b"{" * 30 + b"\n" + b"}" * 30 + b"\n\n"
    out = compact([body], max_line_length=50)
    assert out[0] == "ok"
    assert isinstance(out[1], DecodeFault) and out[1].message.startswith("text outside SSE framing")
    assert fault_offset(out[1]) == 41


def test_stray_text_too_long_at_the_end_of_input() -> None:
    """The last line, ended by the end of input, is checked too."""
    body = b"{" * 30 + b"\n" + b"}" * 30
    out = compact([body], max_line_length=50)
    assert len(out) == 1 and isinstance(out[0], DecodeFault) and fault_offset(out[0]) == 31


def test_default_limit_allows_multi_megabyte_lines() -> None:
    """A Gemini image chunk carries MBs of base64 in one `data:` line: well within the default limit."""
    payload = base64.b64encode(bytes(range(256)) * 24_000).decode()  # 8 MB
    body = f"data: {payload}\n\n".encode()
    assert compact([body]) == [payload]
    assert compact(cut_at(body, list(range(0, len(body), 16 * 1024)))) == [payload]


def test_max_line_length_none_is_no_limit() -> None:
    """None lifts the limit."""
    assert compact([b"data: " + b"x" * 100 + b"\n\n"], max_line_length=None) == ["x" * 100]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "50"])
def test_max_line_length_must_be_a_positive_integer(bad: object) -> None:
    """A bad limit is refused when the decoder is made."""
    with pytest.raises(ValueError, match="max_line_length"):
        SSEDecoder(max_line_length=bad)  # type: ignore[arg-type]


def test_big_piece_is_decoded_in_slices() -> None:
    """A piece of many slices gives what 16 KiB pieces give, and a fault deep inside it keeps all before it."""
    body = b"".join(b'data: {"n": %d}\n\n' % i for i in range(20_000))
    expected = [f'{{"n": {i}}}' for i in range(20_000)]
    assert compact([body]) == expected
    at = body.index(b'data: {"n": 15000}')
    out = compact([body[:at] + b"\xff" + body[at:]])
    assert out[:-1] == expected[:15000] and fault_offset(out[-1]) == at


def test_event_of_many_data_lines_across_pieces() -> None:
    """Data lines joined into blocks (past 512 lines) all reach the event, and none is left for the next."""
    lines = [str(i) for i in range(1200)]
    body = "".join(f"data: {line}\n" for line in lines).encode()
    assert compact([body, b"\ndata: next\n\n"]) == ["\n".join(lines), "next"]
    assert compact([body, b"\n", b"data: next\n\n"], max_line_length=50_000) == ["\n".join(lines), "next"]


# ---------------------------------------------------------------- the public API on a fault


def test_invalid_utf8_raises_malformed_chunk_error() -> None:
    """Invalid UTF-8 is never replaced silently: the public API raises MalformedChunkError."""
    with pytest.raises(MalformedChunkError, match="invalid UTF-8") as caught:
        decode(b"data: \xff\n\n")
    assert caught.value.position == 1 and caught.value.raw == "data: \ufffd"


def test_public_decode_returns_what_came_before_a_fault_then_raises() -> None:
    """decode() returns the events before the fault; the next call raises, with the event's position."""
    decoder = SSEDecoder()
    assert decoder.decode(b"data: a\n\ndata: b\n\nevent: x\ndata: \xff") == [
        ServerSentEvent(data="a"),
        ServerSentEvent(data="b"),
    ]
    with pytest.raises(MalformedChunkError) as caught:
        decoder.decode(b"data: c\n\n")
    assert caught.value.position == 3 and caught.value.raw == "data: \ufffd"
    with pytest.raises(MalformedChunkError):
        decoder.flush()


def test_public_decode_raises_at_once_when_nothing_came_before() -> None:
    """With nothing to return, the call that finds the fault raises it."""
    decoder = SSEDecoder(max_line_length=50)
    assert decoder.decode(b"data: a\n\n") == [ServerSentEvent(data="a")]
    with pytest.raises(MalformedChunkError, match="a line longer than 50 characters at byte 9") as caught:
        decoder.decode(b"x" * 60)
    assert caught.value.position == 2


def test_public_flush_raises_on_a_truncated_character() -> None:
    """flush() raises at once: at the end of input nothing is completed before a fault."""
    decoder = SSEDecoder()
    assert decoder.decode(b"data: a\n\ndata: \xe4") == [ServerSentEvent(data="a")]
    with pytest.raises(MalformedChunkError, match="unexpected end of data"):
        decoder.flush()


# ---------------------------------------------------------------- memory


def decode_traced(pieces: list[bytes]) -> tuple[list[CompactItem], int]:
    """The compact items of `pieces`, and the peak memory the decoding took."""
    tracemalloc.start()
    try:
        decoder = SSEDecoder()
        out: list[CompactItem] = []
        for piece in pieces:
            out += decoder.decode_compact(piece)
        out += decoder.flush_compact()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_long_line_trickled_costs_about_its_size() -> None:
    """A 2 MB line fed in 2-byte pieces peaks under 4x its size (one string per piece took 30x)."""
    size = 2_000_000
    body = b"data: " + b"x" * size + b"\n\n"
    out, peak = decode_traced([body[i : i + 2] for i in range(0, len(body), 2)])
    assert peak < 4 * size
    assert out == ["x" * size]


@pytest.mark.parametrize(
    ("line", "ending"),
    [(b"data: ab\n", b"\n"), (b"ab\n", b"data: end\n\n")],
    ids=["data lines of one event", "stray lines"],
)
def test_many_short_lines_held_cost_about_their_size(line: bytes, ending: bytes) -> None:
    """1 MB of short data lines of one event, or of stray lines, is held in blocks, not one string each."""
    count = 1_000_000 // 3
    body = b"data: start\n\n" + line * count + ending
    out, peak = decode_traced(cut_at(body, list(range(0, len(body), 16 * 1024))))
    assert peak < 4 * 3 * count
    held = "\n".join(["ab"] * count)
    assert out == (["start", held] if ending == b"\n" else ["start", StrayText(text=held), "end"])


# ---------------------------------------------------------------- properties

# Streams of SSE lines of each kind and line ending (lines of up to 45 characters: the data or stray
# lines of one event add up past a limit of 50), with a few hostile fragments put in: invalid UTF-8,
# huge retry values, lines longer than 50 characters, random bytes.
ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r"])
TEXT = st.sampled_from([b"a", "é".encode(), "🎉".encode()])
LINES = st.one_of(
    st.sampled_from(
        [
            b"data: x\n\n",
            b"data:y\r\n",
            b"data\n",
            b"\n",
            b"\r\n",
            b"\r",
            b": keep-alive\n",
            b"event: error\n",
            b"id: 7\n",
            b"id: a\x00b\n",
            b"retry: 1500\n",
            b"\xef\xbb\xbf",
            b'[{"error": 1}]\n',
            "data: é世🎉\n".encode(),
        ]
    ),
    st.tuples(st.sampled_from([b"data: ", b"{", b"event: "]), TEXT, st.integers(0, 45), ENDINGS).map(
        lambda t: t[0] + t[1] * t[2] + t[3]
    ),
)
HOSTILE = st.one_of(
    st.sampled_from(
        [b"\xff", b"\xc3", b"\xe4\xb8", b"\xe4\xb8A", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]
    ),
    st.integers(1, 6000).map(lambda n: b"retry: " + b"7" * n + b"\n"),
    st.tuples(st.sampled_from([b"data: ", b"", b"{"]), TEXT, st.integers(40, 70), ENDINGS).map(
        lambda t: t[0] + t[1] * t[2] + t[3]
    ),
    st.binary(max_size=8),
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(LINES, max_size=30))
    for _ in range(draw(st.integers(0, 2))):
        lines.insert(draw(st.integers(0, len(lines))), draw(HOSTILE))
    return b"".join(lines)


BODIES = bodies()
LIMITS = st.sampled_from([None, 50])
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(body=BODIES, limit=LIMITS, data=st.data())
def test_items_and_fault_do_not_depend_on_the_cuts(
    body: bytes, limit: int | None, data: st.DataObject
) -> None:
    """Whole, cut at random, or byte by byte: the same items and the same fault (kind, offset, raw)."""
    whole = compact([body], limit)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    assert compact(cut_at(body, cuts), limit) == whole
    if len(body) <= 400:
        assert compact([body[i : i + 1] for i in range(len(body))], limit) == whole


@PROPERTY
@given(body=BODIES, data=st.data())
def test_slices_blocks_and_spent_budgets_change_nothing(body: bytes, data: st.DataObject) -> None:
    """Big pieces decoded in slices, held pieces joined into blocks, what is held counted again when the
    budget is spent: none of it shows (here each may happen every few characters)."""
    pieces = cut_at(body, data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    expected = {limit: compact(pieces, limit) for limit in (None, 50)}
    with mock.patch.multiple(
        _sse,
        _SLICE=data.draw(st.sampled_from([7, _sse._SLICE])),
        _MAX_BUDGET=data.draw(st.sampled_from([20, _sse._MAX_BUDGET])),
        _BLOCK=data.draw(st.sampled_from([3, _sse._BLOCK])),
    ):
        assert {limit: compact(pieces, limit) for limit in (None, 50)} == expected


@PROPERTY
@given(body=BODIES)
def test_utf8_fault_is_where_the_standard_library_finds_it(body: bytes) -> None:
    """The fault is at the byte `bytes.decode` names, and the items before it are those of the valid prefix."""
    out = compact([body], None)
    error = utf8_error(body)
    if error is None:
        assert not any(isinstance(item, DecodeFault) for item in out)
        return
    fault = out[-1]
    assert isinstance(fault, DecodeFault) and fault.kind == "utf8"
    assert fault.message == f"invalid UTF-8 ({error.reason}) at byte {error.start} of the stream"
    if error.end < len(body) or error.reason != "unexpected end of data":
        assert out[:-1] == SSEDecoder(max_line_length=None).decode_compact(body[: error.start])
        return
    # The input ends inside a character, so the line it is in was cut: a comment or field line is
    # read as far as it came, as at any end of input; a cut data line takes its event with it; a
    # cut stray line (any other, or one that begins with the cut character) its stray block.
    start = max(body.rfind(b"\n", 0, error.start), body.rfind(b"\r", 0, error.start)) + 1
    cut = body[start : error.start]
    decoder = SSEDecoder(max_line_length=None)
    if cut.startswith((b":", b"id:", b"retry:", b"event:")):
        expected = decoder.decode_compact(body[: error.start]) + decoder.flush_compact()
    elif cut and (b"data:".startswith(cut[:5]) or cut.startswith(b"data:")):
        expected = decoder.decode_compact(body[:start])
    else:
        expected = decoder.decode_compact(body[:start])
        expected += [item for item in decoder.flush_compact() if not isinstance(item, StrayText)]
    assert out[:-1] == expected


def utf8_error(body: bytes) -> UnicodeDecodeError | None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    return None


def limit_fault(body: bytes, limit: int) -> tuple[str, int] | None:
    """Where a plain reading of the whole stream first passes `limit`: ("line" | "data" | "stray", byte
    offset of the line), or None. An oracle written apart from the decoder; it stops at invalid UTF-8."""
    try:
        text, ended = body.decode("utf-8"), True
    except UnicodeDecodeError as exc:
        text, ended = body[: exc.start].decode("utf-8"), False
    at = 0
    if text.startswith("\ufeff"):
        text, at = text[1:], 3
    data = stray = -1  # the joined length of the pending data / stray lines; -1 when none
    for match in re.finditer(r"([^\r\n]*)(\r\n|\r|\n|$)", text):
        line, eol = match.groups()
        if not line and not eol:
            break
        if len(line) > limit:
            return ("line", at)
        if not eol and not ended:
            break  # cut by the invalid byte: not a whole line
        if not line:
            data = stray = -1
        elif line.startswith("data:") or line == "data":
            value = line[6:] if line[5:6] == " " else line[5:]
            data = len(value) if data < 0 else data + 1 + len(value)
            if data > limit:
                return ("data", at)
            stray = -1
        elif line.startswith(":"):
            pass
        elif line.partition(":")[0] in ("event", "id", "retry"):
            stray = -1
        else:
            stray = len(line) if stray < 0 else stray + 1 + len(line)
            if stray > limit:
                return ("stray", at)
        at += len((line + eol).encode())
    return None


WORDING = {"line": "a line longer", "data": "an event's data longer", "stray": "text outside SSE framing"}


@PROPERTY
@given(body=BODIES)
def test_limit_fault_is_where_the_oracle_finds_it(body: bytes) -> None:
    """A limit fault is at the line an independent reading names; what came before is what a limitless
    decoder returns for the stream up to that line."""
    out = compact([body], 50)
    expected = limit_fault(body, 50)
    fault = out[-1] if out and isinstance(out[-1], DecodeFault) else None
    if expected is None:
        assert fault is None or fault.kind == "utf8"
        assert out == compact([body], None)
        return
    kind, at = expected
    assert fault is not None and fault.kind == "line_too_long" and fault.message.startswith(WORDING[kind])
    assert fault_offset(fault) == at
    assert out[:-1] == SSEDecoder(max_line_length=None).decode_compact(body[:at])


@PROPERTY
@given(body=BODIES, data=st.data())
def test_public_api_raises_only_malformed_chunk_error(body: bytes, data: st.DataObject) -> None:
    """Any bytes, any cuts: the public API returns the compact API's items and raises only MalformedChunkError."""
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=8))
    expected = compact(cut_at(body, cuts), 50)
    decoder = SSEDecoder(max_line_length=50)
    items: list[ServerSentEvent | StrayText] = []
    error: MalformedChunkError | None = None
    try:
        for piece in cut_at(body, cuts):
            items += decoder.decode(piece)
        items += decoder.flush()
    except MalformedChunkError as exc:
        error = exc
        items += exc.items  # what flush completed before the fault
    fault = expected[-1] if expected and isinstance(expected[-1], DecodeFault) else None
    if fault is not None:
        expected.pop()
    assert items == [ServerSentEvent(data=i) if isinstance(i, str) else i for i in expected]
    if fault is None:
        assert error is None
        return
    assert error is not None and (error.message, error.raw) == (fault.message, fault.raw)
    assert error.position == sum(isinstance(i, (str, ServerSentEvent)) for i in expected) + 1


@settings(max_examples=100, deadline=None)
@given(digits=st.integers(1, 6000), data=st.data())
def test_retry_of_any_length_never_raises(digits: int, data: st.DataObject) -> None:
    """A retry of any length is kept when it has at most 18 digits, else ignored, whatever the cuts."""
    body = b"retry: " + b"7" * digits + b"\ndata: x\n\n"
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=8))
    retry = int("7" * digits) if digits <= 18 else None
    assert decode(*cut_at(body, cuts)) == [ServerSentEvent(data="x", retry=retry)]


def test_event_error_without_data_is_dispatched() -> None:
    """`event: error` with no data line is dispatched (empty data), a departure from the standard: an error
    the server reported is never dropped."""
    assert decode(b"event: error\n\n") == [ServerSentEvent(data="", event="error")]
    assert decode(b"event: ping\n\n") == []


def test_flush_raises_with_the_items_the_end_of_input_completed() -> None:
    """Input ending in a line cut inside a character, after an event with no blank line: the end of
    input completes that event, and flush both raises the fault and hands the event over on it.
    (Hypothesis found flush returning the event and losing the fault: there is no next call.)"""
    decoder = SSEDecoder(max_line_length=50)
    assert decoder.decode(b"data: x\n\ndata:y\r\n\xc3") == [ServerSentEvent(data="x")]
    with pytest.raises(MalformedChunkError) as caught:
        decoder.flush()
    assert caught.value.items == [ServerSentEvent(data="y")]
    assert caught.value.position == 3 and caught.value.message.startswith("invalid UTF-8")
    with pytest.raises(MalformedChunkError):
        decoder.flush()  # and again on every later call
