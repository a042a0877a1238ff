"""Every input form to one reading: a chunk, the end marker, a server error, or nothing.

Contract (as h11's readers state theirs): each function here takes one unit of input the
assembler received (an SSE ``data:`` payload, a run of lines outside SSE framing, or an object
passed to ``feed``) and returns one of

* a ``dict``: a chunk to merge (not yet checked beyond being a JSON object);
* ``DONE``: ``data: [DONE]`` arrived;
* an ``ErrorBody``: the server reported an error (its body, still unchecked);
* ``None``: the unit carries nothing (an empty ``data:`` keep-alive);

or raises ``Malformed``, whose message says what is wrong and ``offset`` where, when the input
was JSON text. The functions keep no state and raise nothing else, so they can be fuzzed alone.
Where each form comes from is in behaviour.md §1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic_core import from_json

from ._merge import MAX_INT_DIGITS

__all__ = [
    "DONE",
    "SUFFIXES",
    "UNPARSED",
    "ErrorBody",
    "Malformed",
    "describe_error",
    "describe_input",
    "fast_loads",
    "is_error_body",
    "jsonl_to_sse",
    "loads",
    "parse_arguments",
    "raised_by_caller",
    "read_data",
    "read_object",
    "read_stray",
    "utf8_text",
]


class Malformed(Exception):
    """A unit of input that is not a chunk. ``offset``: where in its JSON text, when known."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class _Done:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DONE"


#: ``data: [DONE]``.
DONE = _Done()


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The server reported an error; ``body`` is its JSON value, or its text when not JSON."""

    body: Any


def _reject_constant(name: str) -> Any:
    # `json.loads` reads NaN and Infinity, which are not JSON and which no dump could write back.
    raise ValueError(f"{name} is not a JSON value")


# `json.loads(s)` is `_default_decoder.decode(s)`; ours costs the same and is strict about NaN.
_decode = json.JSONDecoder(parse_constant=_reject_constant).decode


#: The parser for the hot path: pydantic-core's, installed with pydantic, reads a chunk payload in
#: about a third of `json.loads`' time. Where they differ it refuses what `json.loads` reads (a lone
#: surrogate escape, nesting past 200): it raises ValueError, and the caller then reads the payload
#: with `json.loads` (``loads``, ``read_data``), so the result and the error (its message and
#: offset) are `json.loads`' own. Every short string is cached (pydantic-core's default), not only
#: keys: the id, model, role, name and type values repeat on every chunk, and measured on real
#: payloads caching them all is faster than keys only (0.83 against 0.91 us per text chunk).
#: The hot loops call `from_json` with these options themselves (a `partial` costs 0.2-0.4 us).
def fast_loads(text: str | bytes) -> Any:
    return from_json(text, allow_inf_nan=False)


#: What ``Call.check(parse=False)`` reports as the parsed value of valid arguments.
UNPARSED: Any = object()
# Strict like `loads` (no NaN); the validator drops objects as it reads them. Python reads at most
# 4300 digits into an int, but a longer JSON integer is still valid JSON: read as a Decimal.
_VALIDATE = json.JSONDecoder(object_pairs_hook=lambda pairs: None, parse_constant=_reject_constant).decode
_VALIDATE_BIG = json.JSONDecoder(
    object_pairs_hook=lambda pairs: None, parse_int=lambda s: None, parse_constant=_reject_constant
).decode
_PARSE_BIG = json.JSONDecoder(
    parse_int=lambda s: int(s) if len(s) <= 4000 else Decimal(s), parse_constant=_reject_constant
).decode


_BUILD_TO_VALIDATE = 64 * 1024  # characters of arguments validated by building them (see below)


def parse_arguments(text: str, parse: bool = True) -> tuple[Any, str | None]:
    """Tool-call arguments: (parsed value, or ``UNPARSED`` when ``parse`` is false, None), or
    (None, why the text is not JSON). Never raises."""
    if len(text) <= _BUILD_TO_VALIDATE:
        try:
            # pydantic-core reads valid JSON in a third of the standard library's time and accepts
            # nothing `json.loads` refuses; what it refuses (a lone surrogate escape, an integer
            # over 4300 digits, NaN) is judged below, by the reader whose rules and messages we keep.
            # It builds the whole value even only to validate, and its objects take more room than
            # the standard library's (a 1.5 MB argument array: 27 MB, against 22 MB parsed and 2.7 MB
            # validated below): larger text is read below, where validation drops the objects.
            value = from_json(text, allow_inf_nan=False)
            return (value if parse else UNPARSED), None
        except (ValueError, TypeError, RecursionError):  # TypeError: a str holding a lone surrogate
            pass
    try:
        try:
            return (_decode(text) if parse else (_VALIDATE(text), UNPARSED)[1]), None
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError) or "digits" not in str(exc):
                raise
            # An integer of more than 4300 digits: valid JSON, read as a Decimal (exact).
            return (_PARSE_BIG(text) if parse else (_VALIDATE_BIG(text), UNPARSED)[1]), None
    except ValueError as exc:
        return None, f"arguments are not valid JSON: {exc}"
    except RecursionError:
        return None, "arguments nest too deeply to parse"


def loads(text: str) -> Any:
    """``json.loads``, with every failure as ``Malformed`` (offset of a syntax error included)."""
    try:
        return fast_loads(text)
    except (ValueError, TypeError):  # TypeError: a str holding a lone surrogate, which pydantic-core refuses
        pass  # read again by the standard library: its leniencies, and its error message and offset
    try:
        return _decode(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if text.lstrip().startswith(("data:", "event:", "id:", "retry:", ":")):
            # `assemble(response.iter_lines())`: each str of an iterable is one payload, not SSE.
            hint = " (this is SSE text, not a payload: give assemble() the whole body, or feed_bytes bytes)"
        raise Malformed(f"invalid JSON: {exc}{hint}", exc.pos) from None
    except ValueError as exc:  # NaN/Infinity, or an integer over Python's digit limit
        if "digits" in str(exc):
            raise Malformed(f"a number in the JSON has more than {MAX_INT_DIGITS} digits") from None
        raise Malformed(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise Malformed("invalid JSON: nested too deeply") from None


def loads_or_none(text: str) -> Any:
    try:
        return _decode(text)
    except (ValueError, RecursionError):
        return None


def read_data(payload: str, event: str | None = None) -> Any:
    """One SSE ``data:`` payload (and the event's type, when it named one)."""
    stripped = payload.strip()
    if stripped == "[DONE]":
        return DONE
    if event == "error":
        # Groq: `event: error` then `data: {"error": {...}}`. The data need not be JSON, and may be
        # empty: the frame alone says the stream failed (behaviour.md §9).
        body = loads_or_none(stripped) if stripped else None
        return ErrorBody(body if body is not None else payload)
    if not stripped:
        return None  # an empty data payload carries nothing (keep-alive)
    value = loads(payload)
    if type(value) is dict:
        return value
    if is_error_body(value):
        return ErrorBody(value)  # Gemini error bodies are JSON arrays of {"error": {...}}
    raise Malformed(f"payload is JSON but not an object: {type(value).__name__}")


def read_stray(text: str) -> Any:
    """Lines outside SSE framing. Vertex writes raw error bodies this way mid-stream (behaviour.md §1)."""
    value = loads_or_none(text)
    if is_error_body(value):
        return ErrorBody(value)
    if type(value) is dict and ("choices" in value or "object" in value):
        return value  # a chunk written as a bare JSON line (JSON-lines output without SSE framing)
    raise Malformed("a line outside SSE framing that is neither a chunk nor an error body")


def utf8_text(data: bytes | bytearray | memoryview, what: str) -> str:
    """``data`` decoded as UTF-8; ``Malformed`` naming ``what`` and the byte when it is not."""
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"the {what} is not valid UTF-8: {exc.reason} at byte {exc.start}") from None


def read_object(chunk: Any) -> Any:
    """Anything ``feed`` takes besides a plain ``dict``: JSON text or bytes, a mapping, an SSE event
    object (``.event``/``.data``, e.g. httpx-sse's), or another client's chunk object exposing
    ``to_dict()``/``model_dump()`` (openai-python's ``ChatCompletionChunk``)."""
    if isinstance(chunk, str):
        return read_data(chunk)
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return read_data(utf8_text(chunk, "payload"))
    if isinstance(chunk, Mapping):
        return dict(chunk)
    data = getattr(chunk, "data", None)
    if isinstance(data, str) and hasattr(chunk, "event"):
        event = getattr(chunk, "event", None)
        return read_data(data, event if isinstance(event, str) else None)
    for method in ("to_dict", "model_dump"):
        dump = getattr(chunk, method, None)
        if callable(dump):
            try:
                value = dump()
            except Exception as exc:  # another library's code: whatever it raises is input failure
                raise Malformed(f"{type(chunk).__name__}.{method}() failed: {exc!r}") from None
            if not isinstance(value, dict):
                raise Malformed(f"{type(chunk).__name__}.{method}() did not return a mapping")
            return value
    raise Malformed(f"cannot read a chunk from a {type(chunk).__name__}")


def is_error_body(value: Any) -> bool:
    """``{"error": {...}}``, Gemini's ``[{"error": {...}}]``, or vLLM's ``{"object": "error", ...}``."""
    if type(value) is dict:
        return bool(value.get("error")) or (value.get("object") == "error" and not value.get("choices"))
    if type(value) is list and value:
        return all(type(v) is dict and bool(v.get("error")) for v in value)
    return False


def describe_error(body: Any) -> tuple[int | str | None, str | None, str]:
    """The server's code, status and message, from whichever error shape it sent.

    ``body`` must already be JSON-safe (checked) or text.
    """
    error: Any = body
    if type(error) is list and error:
        error = error[0]
    if type(error) is dict and "error" in error:
        error = error["error"]
    if type(error) is dict:
        code = error.get("code")
        status = error.get("status")
        message = error.get("message")
        return (
            code if type(code) is str or type(code) is int else None,
            status if type(status) is str else None,
            message if type(message) is str and message else json.dumps(error, ensure_ascii=False)[:500],
        )
    if type(error) is str:
        return None, None, error.strip()[:500] or "(empty error)"
    return None, None, json.dumps(error)[:500]


def raised_by_caller(exc: Exception) -> Malformed:
    """A caller's object raised while it was read (its ``__bool__``, ``__eq__``, ``__hash__``,
    ``__iter__``, a property: a numpy array in a chunk, a broken mapping). Only ``feed`` can meet
    one; the bytes path reads JSON, whose values are plain. It is input that cannot be read."""
    try:
        detail = f"{type(exc).__name__}: {exc}"
    except Exception:  # its __str__ raises too
        detail = type(exc).__name__
    return Malformed(f"reading the chunk raised {detail}")


def describe_input(raw: Any) -> str:
    """The raw input of an error, as valid text (at most 8000 characters of a large one)."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        text = bytes(raw[:8000]).decode("utf-8", "replace")
    elif isinstance(raw, str):
        text = raw
    else:
        try:
            text = repr(raw)
        except Exception:  # a caller's object whose repr fails or recurses: name it instead
            text = f"<a {type(raw).__name__} that cannot be shown>"
    if len(text) > 8000:
        text = text[:8000] + f"... ({len(text)} characters)"
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


#: What a recording file may be: the raw SSE bytes, or one chunk payload per line.
SUFFIXES = (".sse", ".jsonl")


def jsonl_to_sse(data: bytes) -> bytes:
    """One payload per line to SSE events; blank lines are skipped, and ``[DONE]`` is added unless
    the last line is already ``[DONE]``. Payloads are copied verbatim, so a recorded malformed one
    replays as malformed."""
    lines = [line.strip() for line in data.split(b"\n")]
    payloads = [line for line in lines if line]
    if not payloads or payloads[-1] != b"[DONE]":
        payloads.append(b"[DONE]")
    return b"".join(b"data: " + payload + b"\n\n" for payload in payloads)
