"""The output side of ``chunkwise replay``: everything it writes to stdout.

``Output`` writes one run's stdout and turns any failure to write into ``Unwritable``. JSON goes out
as UTF-8 bytes and is always valid: ``to_json`` replaces, where it stands, a value JSON cannot carry.
``render`` is the readable view. The contract these keep (encodings, placeholders, no traceback) is
in ``_cli``'s docstring; exit codes and stderr stay there too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from typing import Any, BinaryIO, Protocol, TextIO

from pydantic import BaseModel

from ._events import Event
from ._models import ChatCompletion, FunctionCall

# How deep the last-resort serializer (_plain) goes before it replaces a value with a placeholder.
# Below pydantic's own limit (it stops near 255 levels with "Circular reference detected (depth
# exceeded)") and far below the interpreter's recursion limit.
_SHOWN_DEPTH = 200


class Unwritable(Exception):
    """stdout refused the output: exit 1, or 0 when the reader left (broken pipe)."""


class Writer(Protocol):
    def write(self, text: str, /) -> object: ...


class Output:
    """stdout for one run. Writes JSON as UTF-8 bytes, the readable view as text (see ``_cli``'s
    docstring); any failure to write raises ``Unwritable``."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._bytes: BinaryIO | None = getattr(stream, "buffer", None)
        #: Produce JSON with ``ensure_ascii``: only when there is no byte layer to write UTF-8 to.
        self.ascii_only = self._bytes is None

    def json(self, text: str) -> None:
        """Write JSON text made by ``to_json(..., ascii_only=self.ascii_only)``."""
        if self._bytes is None:
            self.write(text)
            return
        # A lone surrogate ("\ud800" is valid JSON and json.loads keeps it) has no UTF-8 form;
        # backslashreplace writes it as \ud800, the JSON escape that stands for it. It can only
        # occur inside a JSON string, where that escape is read back as the same character.
        data = text.encode("utf-8", "backslashreplace")
        try:
            self._require().flush()  # anything written as text before goes first
            self._bytes.write(data)
        except (OSError, ValueError) as exc:
            raise Unwritable(reason(exc)) from exc

    def events(self, events: list[Event]) -> None:
        """Write events as JSON lines and flush: one call per piece of input."""
        if events:
            self.json("".join(_event_json(event, ascii_only=self.ascii_only) + "\n" for event in events))
            self.flush()

    def write(self, text: str) -> None:
        """Write readable text in the stream's encoding."""
        stream = self._require()
        try:
            try:
                stream.write(text)
            except UnicodeEncodeError:
                # A stream we could not reconfigure to escape what its encoding lacks: ASCII with
                # escapes is readable in any encoding a terminal uses.
                stream.write(text.encode("ascii", "backslashreplace").decode("ascii"))
        except (OSError, ValueError) as exc:
            raise Unwritable(reason(exc)) from exc

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            raise Unwritable(reason(exc)) from exc

    def _require(self) -> TextIO:
        if self._stream is None:  # started with fd 1 closed (`>&-`)
            raise Unwritable("stdout is closed")
        return self._stream


def tolerate_unencodable(stream: TextIO | None) -> None:
    """A terminal or pipe that cannot show some character must not turn into a traceback."""
    # None, or a stream that cannot be reconfigured: Output.write escapes instead.
    with contextlib.suppress(AttributeError, OSError, ValueError):
        stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


def write_line(stream: TextIO | None, message: str) -> bool:
    """``chunkwise: <message>`` as one line (newlines in a server's text written as ``\\n``), in
    any encoding; False when the stream is gone or full (the caller decides what that means)."""
    if stream is None:
        return False
    text = "chunkwise: " + "\\n".join(message.splitlines()) + "\n"
    return write_text(stream, text)


def write_text(stream: TextIO | None, text: str) -> bool:
    """``text`` to a terminal or log that may not show every character; False if it failed."""
    if stream is None:
        return False
    try:
        try:
            stream.write(text)
        except UnicodeEncodeError:
            stream.write(text.encode("ascii", "backslashreplace").decode("ascii"))
        stream.flush()
    except (OSError, ValueError):
        return False
    return True


def discard_pending(stream: TextIO | None) -> None:
    """After a failed write, point the stream's descriptor at /dev/null.

    The bytes still in its buffer would otherwise fail again when the interpreter flushes it at
    exit, which prints "Exception ignored ..." and exits 120. This is the recipe of the ``signal``
    module's documentation ("Note on SIGPIPE").
    """
    try:
        fd = stream.fileno()  # type: ignore[union-attr]
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (AttributeError, OSError, ValueError):
        return  # no descriptor (None, io.StringIO): nothing is flushed at exit
    try:
        os.dup2(devnull, fd)
    except OSError:
        pass
    finally:
        os.close(devnull)


def reason(exc: BaseException) -> str:
    """Why a read or a write failed, for a one-line message: the system's own words when it gave some."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------- JSON


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as a JSON-ready mapping: its class name under ``type``, then its fields as named.

    No event has a field named ``type`` (a test pins it), so nothing overwrites the name. Shallow: the
    values are the event's own (``dataclasses.asdict`` would deep-copy parsed arguments only to
    serialize them).
    """
    out: dict[str, Any] = {"type": type(event).__name__}
    for field in dataclasses.fields(event):
        out[field.name] = getattr(event, field.name)
    return out


def _event_json(event: Event, *, ascii_only: bool) -> str:
    return to_json(event_to_dict(event), ascii_only=ascii_only)


def completion_json(completion: ChatCompletion, *, ascii_only: bool) -> str:
    try:
        data: Any = completion.model_dump(mode="json", exclude_none=True)
    except (ValueError, TypeError, RecursionError):
        # pydantic gives up on deep values ("Circular reference detected (depth exceeded)").
        data = _plain(completion)
    return to_json(data, ascii_only=ascii_only, indent=2)


def to_json(value: Any, *, ascii_only: bool, indent: int | None = None) -> str:
    """``value`` as JSON text that is always valid: what the fast path cannot write goes through
    ``_plain``, which replaces only the values JSON cannot carry."""
    try:
        return json.dumps(value, ensure_ascii=ascii_only, allow_nan=False, indent=indent)
    except (ValueError, TypeError, RecursionError):
        pass
    return json.dumps(_plain(value), ensure_ascii=ascii_only, allow_nan=False, indent=indent)


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data, each value JSON cannot carry replaced where it stands.

    A model becomes what ``model_dump(mode="json", exclude_none=True)`` gives (declared fields not
    marked ``exclude``, then the extras, None left out); NaN and infinities become null, as pydantic
    writes them; an integer too long to print (``int`` refuses past 4300 digits), anything nested
    deeper than ``_SHOWN_DEPTH``, and any other type become a string saying so.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        try:
            str(value)
        except ValueError:
            digits = int(value.bit_length() * math.log10(2)) + 1
            return f"<integer of about {digits} digits, too long to print>"
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= _SHOWN_DEPTH:
        return f"<nested deeper than {_SHOWN_DEPTH} levels, not shown>"
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        items = [(name, getattr(value, name)) for name, field in fields.items() if not field.exclude]
        items += (value.model_extra or {}).items()
        return {name: _plain(item, depth + 1) for name, item in items if item is not None}
    if isinstance(value, dict):
        return {_key(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    return _show(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else _show(key)


def _show(value: Any) -> str:
    """``str(value)``, or a placeholder when even that fails (a 5000-digit int, a 10000-deep list)."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except (ValueError, RecursionError):
        if isinstance(value, int):
            return f"<integer of about {int(value.bit_length() * math.log10(2)) + 1} digits>"
        return f"<{type(value).__name__} that cannot be shown>"


# ---------------------------------------------------------------- the readable view


def render(completion: ChatCompletion, out: Writer) -> None:
    """A readable view: thinking apart from the answer, each tool call with its arguments."""
    head = [f"model: {_show(completion.model or '?')}", f"id: {_show(completion.id or '?')}"]
    if not completion.done_received:
        head.append("(no [DONE])")
    out.write("  ".join(head) + "\n")
    for choice in completion.choices:
        message = choice.message
        finish = _show(choice.finish_reason or "(none)")
        out.write(f"\nchoice {_show(choice.index)}  finish_reason: {finish}\n")
        if message.reasoning_content:
            label = "thinking (unterminated)" if message.thinking_unterminated else "thinking"
            _block(out, label, message.reasoning_content)
        if isinstance(message.content, str) and message.content:
            _block(out, "answer", message.content)
        elif isinstance(message.content, list):
            _block(out, "answer (parts)", to_json(message.content, ascii_only=False, indent=2))
        if message.refusal:
            _block(out, "refusal", message.refusal)
        if message.audio is not None:
            audio = message.audio
            mime = ((audio.extra_content or {}).get("google") or {}).get("mime_type")
            size = len(audio.data or "")
            out.write(
                f"  audio/image output: {size} base64 characters"
                + (f", {_show(mime)}" if mime else "")
                + "\n"
            )
        for number, call in enumerate(message.tool_calls or [], start=1):
            signed = "thought signature: yes" if call.thought_signature else "thought signature: no"
            if call.custom is not None:
                name, call_id = _show(call.custom.name), _show(call.id)
                out.write(f"  tool call {number} (custom): {name}  id={call_id}  ({signed})\n")
                out.write(f"    input: {call.custom.input}\n")
                continue
            function = call.function or FunctionCall()
            name, call_id = _show(function.name), _show(call.id)
            out.write(f"  tool call {number}: {name}  id={call_id}  ({signed})\n")
            if call.arguments_error is None:
                out.write(f"    arguments: {_arguments(function.arguments)}\n")
            else:
                out.write(f"    arguments (NOT valid JSON, kept as received): {function.arguments}\n")
                out.write(f"    {call.arguments_error}\n")
        if message.function_call is not None:
            legacy = message.function_call
            out.write(f"  function call (legacy function_call): {_show(legacy.name)}\n")
            out.write(f"    arguments: {_arguments(legacy.arguments)}\n")
        if message.thought_signature:
            out.write("  message thought signature: yes\n")
    usage = completion.usage
    if usage is not None:
        parts = [f"prompt {_show(usage.prompt_tokens)}", f"completion {_show(usage.completion_tokens)}"]
        parts.append(f"total {_show(usage.total_tokens)}")
        details = (usage.model_extra or {}).get("completion_tokens_details")
        if isinstance(details, dict) and details.get("reasoning_tokens") is not None:
            parts.append(f"reasoning {_show(details['reasoning_tokens'])}")
        out.write("\nusage: " + ", ".join(parts) + "\n")


def _arguments(text: str) -> str:
    """Arguments as compact JSON; the text as received when it is not JSON, or JSON that cannot be
    written back (``NaN``, nesting deeper than the parser or the encoder goes from here)."""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return text


def _block(out: Writer, label: str, text: str) -> None:
    out.write(f"  {label}:\n")
    # Blank lines at the ends (Vertex puts "\n\n" after a closing thought tag) say nothing to a
    # reader; --json keeps the text exactly.
    for line in text.strip("\n").splitlines() or [""]:
        out.write(f"    | {line}\n")
