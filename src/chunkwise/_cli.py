"""``chunkwise replay``: assemble a recorded SSE stream and show the result.

Exit codes (also in the README and ``--help``):

      0  the stream completed (also when the reader of stdout left early, as ``| head`` does)
      1  the output could not be written (stdout closed, disk full, ...)
      2  usage error, or the input could not be read (missing file, closed stdin, ...)
      3  the server reported an error in the stream        (ServerError)
      4  the stream ended before it was complete           (IncompleteStreamError)
      5  the stream is malformed (bad JSON, bad UTF-8, ...) (MalformedChunkError)
    130  interrupted (Ctrl-C)

The output contract, whatever the input and the environment:

- ``--json`` prints exactly one JSON object: the completion (the partial one when the stream
  failed), or ``{"error": {"type": "UsageError", "message": ...}}`` when the code is 2, even when
  argparse rejects the command line (``--help`` is the one exception: it prints help). With exit
  code 1 the object could not be written, so there is none.
- ``--events`` prints one JSON object per line, as the input is read.
- JSON is written as UTF-8 bytes to ``sys.stdout.buffer``, whatever the locale or
  ``PYTHONIOENCODING`` say: JSON exchanged between systems is UTF-8 (RFC 8259, section 8.1), and a
  terminal encoding must not turn ``é`` into ``\\xe9``, which is not JSON. A stdout without a byte
  layer (``io.StringIO``) gets ASCII-only JSON, which any encoding carries.
- The readable view is text in stdout's own encoding; what it cannot show becomes a backslash
  escape.
- Every non-zero code writes one line naming the reason to stderr (argparse's own two-line usage
  message when the command line is wrong and ``--json`` was not asked for).
- Nothing prints a traceback. A value JSON cannot carry (nested deeper than the serializers go, an
  integer longer than Python prints, NaN) is replaced where it stands by a placeholder string (null
  for NaN, as pydantic writes it), and the rest of the output is unchanged. Input the core accepts
  should never need this: these are last-resort guards for the output.

The input is read and fed in pieces of ``_PIECE`` bytes, never whole, so memory stays near the size
of the answer (a file of SSE framing is mostly framing), and ``--events`` output keeps pace with
the input, one flush per piece.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, Protocol, TextIO

from pydantic import BaseModel

from ._assembler import StreamAssembler
from ._errors import (
    AssemblerStateError,
    ChunkwiseError,
    IncompleteStreamError,
    MalformedChunkError,
    ServerError,
)
from ._events import Event
from ._models import ChatCompletion, FunctionCall

EXIT_OK = 0
EXIT_OUTPUT = 1
EXIT_USAGE = 2
EXIT_SERVER_ERROR = 3
EXIT_INCOMPLETE = 4
EXIT_MALFORMED = 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention

_EXIT_BY_ERROR: list[tuple[type[ChunkwiseError], int]] = [
    (ServerError, EXIT_SERVER_ERROR),
    (IncompleteStreamError, EXIT_INCOMPLETE),
    (MalformedChunkError, EXIT_MALFORMED),
    (AssemblerStateError, EXIT_MALFORMED),
]

BUNDLED_FIXTURE = "parallel-tool-calls.sse"

# Bytes read and fed at a time. Large enough that per-call overhead vanishes (a piece holds
# thousands of chunks), small enough that one piece's events are a few MB at most.
_PIECE = 1 << 20

# How deep the last-resort serializer (_plain) goes before it replaces a value with a placeholder.
# Below pydantic's own limit (it stops near 255 levels with "Circular reference detected (depth
# exceeded)") and far below the interpreter's recursion limit.
_SHOWN_DEPTH = 200

_EPILOG = """\
exit codes: 0 complete; 1 the output could not be written; 2 usage error or unreadable input;
3 server error in the stream; 4 incomplete stream; 5 malformed stream; 130 interrupted.
On a failed stream the partial result is still printed on stdout and a one-line reason on stderr.
With --json, stdout holds exactly one JSON object, also for usage errors (exit 2).
"""


class _UsageError(Exception):
    """The command line or the input cannot be used: exit 2.

    ``usage`` is argparse's usage text when argparse raised it (shown when ``--json`` is off).
    """

    def __init__(self, message: str, *, usage: str = "", prog: str = "chunkwise") -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.prog = prog


class _Unwritable(Exception):
    """stdout refused the output: exit 1, or 0 when the reader left (broken pipe)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so that ``--json`` can answer a bad command line."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message, usage=self.format_usage(), prog=self.prog)

    def print_help(self, file: _Writer | None = None) -> None:
        if file is not None:
            super().print_help(file)
            return
        # argparse ignores a failed write; --help to a full disk must exit 1 like any other output.
        _Output(sys.stdout).write(self.format_help())


def _bundled_fixture() -> bytes:
    """The documented Vertex parallel tool-call stream, the default replay.

    Installed wheels carry it as package data; a source checkout reads it from ``fixtures/``.
    """
    packaged = resources.files("chunkwise") / "_bundled" / BUNDLED_FIXTURE
    if packaged.is_file():
        return packaged.read_bytes()
    source = Path(__file__).resolve().parents[2] / "fixtures" / "vertex" / BUNDLED_FIXTURE
    return source.read_bytes()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chunkwise",
        description="Assemble streamed OpenAI-compatible chat completions.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    replay = commands.add_parser(
        "replay",
        help="assemble a recorded SSE stream",
        description="Assemble a recorded SSE stream (a file of `data:` lines) and print the result.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument(
        "file",
        nargs="?",
        help="the SSE file to replay ('-' for stdin); default: a bundled Vertex parallel tool-call stream",
    )
    mode = replay.add_mutually_exclusive_group()
    mode.add_argument(
        "--json", action="store_true", help="print the assembled chat.completion as one JSON object"
    )
    mode.add_argument(
        "--events", action="store_true", help="print the events, one JSON object per line, as they happen"
    )
    replay.add_argument(
        "--thought-tag", metavar="TAG", help="split <TAG>...</TAG> thinking out of the content (e.g. think)"
    )
    replay.add_argument(
        "--require-done", action="store_true", help="treat a stream without data: [DONE] as incomplete"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``chunkwise`` command: returns the exit code, prints no traceback (see the docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    _tolerate_unencodable(sys.stderr)
    out = _Output(sys.stdout)
    try:
        code = _run(args, out)
        out.flush()  # also what argparse's --help wrote
        return code
    except _Unwritable as exc:
        _discard_pending(sys.stdout)
        if isinstance(exc.__cause__, BrokenPipeError):
            return EXIT_OK  # `chunkwise replay ... | head`: the reader left; nothing more to say.
        _say(f"cannot write the output: {exc}")
        return EXIT_OUTPUT
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED


def _run(argv: list[str], out: _Output) -> int:
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        return _usage_error(exc, out, as_json=_asks_for_json(argv))
    except SystemExit as exc:  # --help has printed the help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if not (args.json or args.events):
        _tolerate_unencodable(sys.stdout)
    try:
        return _replay(args, out)
    except _UsageError as exc:
        return _usage_error(exc, out, as_json=args.json)


def _replay(args: argparse.Namespace, out: _Output) -> int:
    try:
        # Events are built only when they are shown.
        assembler = StreamAssembler(
            thought_tag=args.thought_tag, require_done=args.require_done, emit_events=args.events
        )
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    show = out.events if args.events else _ignore
    error: ChunkwiseError | None = None
    try:
        for piece in _pieces(args.file):
            show(assembler.feed_bytes(piece))
        show(assembler.close())
        result = assembler.completion
    except ChunkwiseError as exc:
        error = exc
        show(exc.events)
        result = exc.partial if exc.partial is not None else assembler.snapshot

    if args.json:
        out.json(_completion_json(result, ascii_only=out.ascii_only) + "\n")
    elif not args.events:
        render(result, out)
    out.flush()  # the result before the reason, when both go to one terminal

    if error is None:
        return EXIT_OK
    _say(f"{type(error).__name__}: {error.message}")
    for kind, code in _EXIT_BY_ERROR:
        if isinstance(error, kind):
            return code
    return EXIT_MALFORMED


def _ignore(events: list[Event]) -> None:
    pass


def _usage_error(exc: _UsageError, out: _Output, *, as_json: bool) -> int:
    if as_json:
        error = {"error": {"type": "UsageError", "message": exc.message}}
        out.json(_to_json(error, ascii_only=out.ascii_only, indent=2) + "\n")
        out.flush()
        _say(exc.message)
    elif exc.usage:
        _write_stderr(f"{exc.usage}{exc.prog}: error: {exc.message}\n")
    else:
        _say(exc.message)
    return EXIT_USAGE


def _asks_for_json(argv: list[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts, such as ``--js``) is among the options.

    Read from the raw arguments because it is needed exactly when argparse could not parse them.
    """
    for arg in argv:
        if arg == "--":
            return False
        name = arg.partition("=")[0]
        if name.startswith("--j") and "--json".startswith(name):
            return True
    return False


# ---------------------------------------------------------------- input


def _pieces(name: str | None) -> Iterator[bytes]:
    """The input in pieces of at most ``_PIECE`` bytes. Raises ``_UsageError`` when it cannot be read."""
    if name is None:
        try:
            data = _bundled_fixture()
        except OSError as exc:
            raise _UsageError(f"cannot read the bundled stream: {_reason(exc)}") from exc
        yield data
    elif name == "-":
        # Not closed afterwards: stdin belongs to whoever called main().
        stdin = sys.stdin
        if stdin is None:  # started with fd 0 closed (`0<&-`)
            raise _UsageError("cannot read stdin: it is closed")
        yield from _read(getattr(stdin, "buffer", stdin), "stdin")
    else:
        try:
            file = open(name, "rb")  # noqa: SIM115 (closed by the `with` below, after the last piece)
        except OSError as exc:
            raise _UsageError(f"cannot read {name}: {_reason(exc)}") from exc
        with file:
            yield from _read(file, name)


def _read(source: Any, label: str) -> Iterator[bytes]:
    # read1 returns what is there (one system call) instead of waiting for a full piece, so
    # `curl ... | chunkwise replay --events -` prints events as they arrive.
    read = getattr(source, "read1", None) or source.read
    while True:
        try:
            piece = read(_PIECE)
        except (OSError, ValueError) as exc:
            raise _UsageError(f"cannot read {label}: {_reason(exc)}") from exc
        if not piece:
            return
        # A text stream (stdin replaced by io.StringIO) yields str; bytes are what the SSE layer
        # reads, and a lone surrogate becomes invalid UTF-8 that it reports as such.
        yield piece.encode("utf-8", "surrogatepass") if isinstance(piece, str) else bytes(piece)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------- output


class _Writer(Protocol):
    def write(self, text: str, /) -> object: ...


class _Output:
    """stdout for one run. Writes JSON as UTF-8 bytes, the readable view as text (see the docstring
    at the top); any failure to write raises ``_Unwritable``."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._bytes: BinaryIO | None = getattr(stream, "buffer", None)
        #: Produce JSON with ``ensure_ascii``: only when there is no byte layer to write UTF-8 to.
        self.ascii_only = self._bytes is None

    def json(self, text: str) -> None:
        """Write JSON text made by ``_to_json(..., ascii_only=self.ascii_only)``."""
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
            raise _Unwritable(_reason(exc)) from exc

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
            raise _Unwritable(_reason(exc)) from exc

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            raise _Unwritable(_reason(exc)) from exc

    def _require(self) -> TextIO:
        if self._stream is None:  # started with fd 1 closed (`>&-`)
            raise _Unwritable("stdout is closed")
        return self._stream


def _tolerate_unencodable(stream: TextIO | None) -> None:
    """A terminal or pipe that cannot show some character must not turn into a traceback."""
    # None, or a stream that cannot be reconfigured: _Output.write escapes instead.
    with contextlib.suppress(AttributeError, OSError, ValueError):
        stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


def _discard_pending(stream: TextIO | None) -> None:
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


def _say(message: str) -> None:
    """One line on stderr: newlines in the message (a server's text) are written as ``\\n``."""
    _write_stderr("chunkwise: " + "\\n".join(message.splitlines()) + "\n")


def _write_stderr(text: str) -> None:
    stream = sys.stderr
    if stream is None:
        return
    try:
        try:
            stream.write(text)
        except UnicodeEncodeError:
            stream.write(text.encode("ascii", "backslashreplace").decode("ascii"))
        stream.flush()
    except (OSError, ValueError):
        _discard_pending(stream)  # stderr is full or gone: there is nowhere left to say it


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
    return _to_json(event_to_dict(event), ascii_only=ascii_only)


def _completion_json(completion: ChatCompletion, *, ascii_only: bool) -> str:
    try:
        data: Any = completion.model_dump(mode="json", exclude_none=True)
    except (ValueError, TypeError, RecursionError):
        # pydantic gives up on deep values ("Circular reference detected (depth exceeded)").
        data = _plain(completion)
    return _to_json(data, ascii_only=ascii_only, indent=2)


def _to_json(value: Any, *, ascii_only: bool, indent: int | None = None) -> str:
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


def render(completion: ChatCompletion, out: _Writer) -> None:
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
            _block(out, "answer (parts)", _to_json(message.content, ascii_only=False, indent=2))
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


def _block(out: _Writer, label: str, text: str) -> None:
    out.write(f"  {label}:\n")
    # Blank lines at the ends (Vertex puts "\n\n" after a closing thought tag) say nothing to a
    # reader; --json keeps the text exactly.
    for line in text.strip("\n").splitlines() or [""]:
        out.write(f"    | {line}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
