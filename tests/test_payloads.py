"""Every input form to one reading: a chunk, DONE, a server error, nothing, or Malformed; nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkwise._payloads import DONE, ErrorBody, Malformed, describe_error, read_data, read_object, read_stray


def test_data_payloads() -> None:
    """[DONE], keep-alives, chunks, Gemini's error arrays, and JSON that is not a chunk."""
    assert read_data(" [DONE] ") is DONE
    assert read_data("  ") is None
    assert read_data('{"choices": []}') == {"choices": []}
    assert read_data('[{"error": {"code": 429}}]') == ErrorBody([{"error": {"code": 429}}])
    with pytest.raises(Malformed, match="not an object"):
        read_data("[1]")
    with pytest.raises(Malformed) as caught:
        read_data('{"a": tru}')
    assert caught.value.offset == 6


@pytest.mark.parametrize("data", ['{"error": {"message": "x"}}', "not json", ""])
def test_event_error_is_an_error_whatever_its_data(data: str) -> None:
    """Groq's `event: error` frame is a server error, with JSON data, text, or none at all."""
    reading = read_data(data, "error")
    assert isinstance(reading, ErrorBody)
    assert reading.body == (json.loads(data) if data.startswith("{") else data)


def test_json_that_no_dump_could_write_back_is_malformed() -> None:
    """NaN and Infinity (json.loads reads them) and integers past Python's digit limit are refused."""
    for text in ('{"a": NaN}', '{"a": -Infinity}', '{"a": ' + "1" * 5000 + "}"):
        with pytest.raises(Malformed):
            read_data(text)


def test_stray_lines() -> None:
    """A raw error body outside SSE framing (Vertex) or a bare chunk line; anything else is malformed."""
    assert read_stray('[{"error": {"code": 499, "status": "CANCELLED"}}]') == ErrorBody(
        [{"error": {"code": 499, "status": "CANCELLED"}}]
    )
    assert read_stray('{"object": "chat.completion.chunk"}') == {"object": "chat.completion.chunk"}
    with pytest.raises(Malformed):
        read_stray("<html>")


def test_objects_of_other_clients() -> None:
    """Mappings, bytes, SSE event objects, and objects with to_dict()/model_dump()."""

    @dataclass
    class Event:
        event: str | None
        data: str

    class Dumps:
        def model_dump(self) -> dict[str, Any]:
            return {"choices": []}

    class Broken:
        def to_dict(self) -> dict[str, Any]:
            raise RuntimeError("boom")

    assert read_object(b'{"a": 1}') == {"a": 1}
    assert read_object(Event(None, "[DONE]")) is DONE
    assert read_object(Dumps()) == {"choices": []}
    for bad in (Broken(), b"\xff", 42):
        with pytest.raises(Malformed):
            read_object(bad)


def test_describe_error_shapes() -> None:
    """Code, status and message from OpenAI's object, Gemini's array, or plain text."""
    assert describe_error({"error": {"message": "m", "code": "c"}}) == ("c", None, "m")
    assert describe_error([{"error": {"code": 499, "status": "CANCELLED", "message": "gone"}}]) == (
        499,
        "CANCELLED",
        "gone",
    )
    assert describe_error("  oops ") == (None, None, "oops")


@given(st.text(max_size=80), st.none() | st.text(max_size=8))
def test_read_data_is_total(text: str, event: str | None) -> None:
    """Any text gives a reading or Malformed, never another exception."""
    try:
        reading = read_data(text, event)
    except Malformed:
        return
    assert reading is DONE or reading is None or isinstance(reading, (dict, ErrorBody))
