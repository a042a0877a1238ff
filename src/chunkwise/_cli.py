"""``chunkwise replay``: assemble a recorded SSE stream and show the result (``chunkwise serve``,
which plays recordings to any HTTP client, is ``_serve.serve``, and ``chunkwise record``, which
captures a live stream, is ``_record``; this module only reads their options).

``replay`` over several files or folders, or with ``--jsonl`` or ``-j``, reports every response of
every file (a file may hold several back to back: ``split_responses``), one line each, in file
order whatever the number of workers (``_archive``). Its exit code is 0 when every response
completed, else that of the worst failure: 2 (a file could not be read), then 5, 4, 3.

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
import json
import sys
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ._assembler import StreamAssembler
from ._errors import (
    AssemblerStateError,
    ChunkwiseError,
    IncompleteStreamError,
    MalformedChunkError,
    ServerError,
)
from ._events import Event
from ._output import (
    Output,
    Unwritable,
    Writer,
    completion_json,
    discard_pending,
    reason,
    render,
    to_json,
    tolerate_unencodable,
    write_line,
    write_text,
)
from ._payloads import jsonl_to_sse

if TYPE_CHECKING:
    from ._serve import Fault, Pieces

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


_EPILOG = """\
exit codes: 0 complete; 1 the output could not be written; 2 usage error or unreadable input;
3 server error in the stream; 4 incomplete stream; 5 malformed stream; 130 interrupted.
On a failed stream the partial result is still printed on stdout and a one-line reason on stderr.
With --json, stdout holds exactly one JSON object, also for usage errors (exit 2).
Several files or folders (or --jsonl, -j): one line per response, in file order; the exit code is
0 when every response completed, else the worst failure's: 2 unreadable file, then 5, 4, 3.
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


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so that ``--json`` can answer a bad command line."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message, usage=self.format_usage(), prog=self.prog)

    def print_help(self, file: Writer | None = None) -> None:
        if file is not None:
            super().print_help(file)
            return
        # argparse ignores a failed write; --help to a full disk must exit 1 like any other output.
        Output(sys.stdout).write(self.format_help())


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
        nargs="*",
        help=(
            "the SSE file to replay ('-' for stdin); default: a bundled Vertex parallel tool-call stream."
            " Several files or folders (every *.sse below them): one result per response"
        ),
    )
    mode = replay.add_mutually_exclusive_group()
    mode.add_argument(
        "--json", action="store_true", help="print the assembled chat.completion as one JSON object"
    )
    mode.add_argument(
        "--events", action="store_true", help="print the events, one JSON object per line, as they happen"
    )
    mode.add_argument(
        "--jsonl",
        action="store_true",
        help="one JSON line per response of every file: file, response, outcome, completion or error",
    )
    replay.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="replay the files on N worker processes (0: one per core; default 1)",
    )
    replay.add_argument(
        "--thought-tag", metavar="TAG", help="split <TAG>...</TAG> thinking out of the content (e.g. think)"
    )
    replay.add_argument(
        "--thought-open",
        action="store_true",
        help="the content begins inside the tag's block: the prompt opened it, the stream has only </TAG>",
    )
    replay.add_argument(
        "--require-done", action="store_true", help="treat a stream without data: [DONE] as incomplete"
    )
    serve = commands.add_parser(
        "serve",
        help="serve recordings over HTTP to any OpenAI-compatible client",
        description=(
            "Serve a recording (or a folder of .sse/.jsonl recordings) on POST /v1/chat/completions\n"
            "and the Vertex AI chat paths, streamed with chunked transfer. The first line printed is\n"
            "the base URL for OpenAI SDKs, then one line per request. Ctrl-C or SIGTERM stops it."
        ),
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("path", help="a .sse/.jsonl recording, or a folder of them")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default: 0, any free port)")
    serve.add_argument(
        "--pieces", default="random", help="whole, lines, bytes, a size in bytes, or random (default)"
    )
    serve.add_argument("--seed", type=int, default=0, help="seed of the random piece sizes (default: 0)")
    serve.add_argument(
        "--delay-ms", type=float, default=0.0, metavar="MS", help="pause between two pieces, in milliseconds"
    )
    serve.add_argument(
        "--fault", help="drop:AFTER, stall:SECONDS[:AFTER] or status:CODE[:BODY] (AFTER in bytes of the body)"
    )
    record = commands.add_parser(
        "record",
        help="record a live stream to a .sse file, credentials left out",
        description=(
            "POST a request body to a live endpoint, write the response bytes exactly as received to\n"
            "OUT and a sidecar OUT.meta.json (request body, status, headers, timing), and show the\n"
            "stream on stderr as it arrives. Credentials are never written to any file."
        ),
        epilog=_RECORD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    record.add_argument("url", help="the chat completions URL to POST to")
    record.add_argument("--body", required=True, metavar="FILE", help="the JSON request body ('-' for stdin)")
    record.add_argument("-o", "--output", required=True, metavar="OUT", help="the .sse file to write")
    record.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeat for more)",
    )
    token = record.add_mutually_exclusive_group()
    token.add_argument("--token-env", metavar="VAR", help="send 'Authorization: Bearer $VAR'")
    token.add_argument(
        "--token-command",
        metavar="CMD",
        help="send the bearer token CMD prints (e.g. 'gcloud auth print-access-token')",
    )
    record.add_argument(
        "--timeout", type=float, default=600.0, metavar="SECONDS", help="read timeout (default: 600)"
    )
    return parser


_RECORD_EPILOG = """\
never written to any file: the Authorization, Proxy-Authorization, x-goog-api-key, api-key,
x-api-key, Cookie and Set-Cookie headers, key=/api_key=/access_token=/token= in the URL, and the
token itself wherever it appears.
exit codes: 0 recorded and the stream completed; 2 usage error, unreadable body, token not
available, or the endpoint cannot be reached; 3 an HTTP error status or a server error in the
stream; 4 the stream ended before it was complete; 5 the stream is malformed; 1 OUT cannot be written.
"""


_SERVE_EPILOG = """\
which recording: the x-chunkwise-fixture header, else the request's model, matched against the
file names (vertex/parallel-tool-calls.sse, vertex/parallel-tool-calls, parallel-tool-calls), else
the only one; otherwise a 404 whose JSON error names them. A request without "stream": true gets
the assembled chat.completion as JSON.
exit codes: 0 stopped by Ctrl-C or SIGTERM; 2 usage error, unreadable recordings, or the address
cannot be used.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """The ``chunkwise`` command: returns the exit code, prints no traceback (see the docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    tolerate_unencodable(sys.stderr)
    out = Output(sys.stdout)
    try:
        code = _run(args, out)
        out.flush()  # also what argparse's --help wrote
        return code
    except Unwritable as exc:
        discard_pending(sys.stdout)
        if isinstance(exc.__cause__, BrokenPipeError):
            return EXIT_OK  # `chunkwise replay ... | head`: the reader left; nothing more to say.
        _say(f"cannot write the output: {exc}")
        return EXIT_OUTPUT
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED


def _run(argv: list[str], out: Output) -> int:
    try:
        args = _parser().parse_args(_json_first(argv))
    except _UsageError as exc:
        return _usage_error(exc, out, as_json=_asks_for_json(argv))
    except SystemExit as exc:  # --help has printed the help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.command == "serve":
        try:
            return _serve_command(args)
        except _UsageError as exc:
            return _usage_error(exc, out, as_json=False)
    if args.command == "record":
        try:
            return _record_command(args)
        except _UsageError as exc:
            return _usage_error(exc, out, as_json=False)
    if not (args.json or args.events):
        tolerate_unencodable(sys.stdout)
    try:
        if _is_archive(args):
            return _replay_archive(args, out)
        args.file = args.file[0] if args.file else None
        return _replay(args, out)
    except _UsageError as exc:
        return _usage_error(exc, out, as_json=args.json)


def _replay(args: argparse.Namespace, out: Output) -> int:
    _check_thought_open(args)
    try:
        # Events are built only when they are shown.
        assembler = StreamAssembler(
            thought_tag=args.thought_tag,
            thought_open=args.thought_open,
            require_done=args.require_done,
            emit_events=args.events,
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
        out.json(completion_json(result, ascii_only=out.ascii_only) + "\n")
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


def _is_archive(args: argparse.Namespace) -> bool:
    """Several responses to report: ``--jsonl``, ``-j``, several paths, or one folder to read as a
    folder (``--json`` and ``--events`` show one stream: a folder given to them is an unreadable file)."""
    files: list[str] = args.file
    if args.jsonl or args.jobs is not None or len(files) > 1:
        return True
    return len(files) == 1 and not (args.json or args.events) and Path(files[0]).is_dir()


def _replay_archive(args: argparse.Namespace, out: Output) -> int:
    """``replay`` over files and folders: every response of every file, in order (``_archive``)."""
    from . import _archive

    if args.json or args.events:
        raise _UsageError("--json and --events show one stream; use --jsonl for several files")
    if "-" in args.file:
        raise _UsageError("stdin ('-') is one stream: replay it alone, without --jsonl or -j")
    jobs = 1 if args.jobs is None else args.jobs
    if jobs < 0:
        raise _UsageError(f"-j must be >= 0, not {jobs}")
    try:
        _check_thought_open(args)
        StreamAssembler(thought_tag=args.thought_tag, thought_open=args.thought_open)  # checked once, here
        files = _archive.expand(args.file)
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    except OSError as exc:
        raise _UsageError(f"cannot read {exc.filename}: {reason(exc)}") from exc
    if not args.file:
        raise _UsageError("--jsonl and -j replay FILE or folder arguments; none was given")
    if not files:
        raise _UsageError(f"no .sse files in {', '.join(args.file)}")
    progress = (
        _archive.Progress(sys.stderr, len(files)) if _archive.wants_progress(sys.stderr, len(files)) else None
    )
    outcomes: list[str] = []
    try:
        for records in _archive.replay_files(
            files,
            jobs=jobs or _archive.default_jobs(),
            thought_tag=args.thought_tag,
            require_done=args.require_done,
            thought_open=args.thought_open,
        ):
            for record in records:
                outcomes.append(record["outcome"])
                if args.jsonl:
                    out.json(to_json(record, ascii_only=out.ascii_only) + "\n")
                else:
                    out.write(_summary(record) + "\n")
            out.flush()
            if progress is not None:
                progress.step(records)
    finally:
        if progress is not None:
            progress.close()
    code = _archive.exit_code(outcomes)
    if code:
        failed = sum(outcome != _archive.COMPLETE for outcome in outcomes)
        _say(f"{failed} of {len(outcomes)} responses did not complete")
    return code


def _summary(record: dict[str, Any]) -> str:
    """One readable line per response: file, number, outcome (and the reason when it failed)."""
    line = f"{record['file']} #{record['response']}: {record['outcome']}"
    if "error" in record:
        line += " (" + " ".join(str(record["error"]).splitlines()) + ")"
    return line


def _record_command(args: argparse.Namespace) -> int:
    try:
        from . import _record  # needs httpx (the `http` extra); `replay` and `serve` do not
    except ImportError as exc:
        raise _UsageError(f"chunkwise record needs httpx: pip install 'chunkwise[http]' ({exc})") from exc
    try:
        return _record.record_command(args, sys.stderr)
    except _record.RecordUsageError as exc:
        raise _UsageError(str(exc)) from exc


def _check_thought_open(args: argparse.Namespace) -> None:
    if args.thought_open and args.thought_tag is None:
        raise _UsageError("--thought-open needs --thought-tag: the tag whose block the content begins in")


def _serve_command(args: argparse.Namespace) -> int:
    from . import _serve  # loaded only to serve: `replay` needs none of http.server

    try:
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be from 0 to 65535, not {args.port}")
        if not 0 <= args.delay_ms <= _serve.MAX_PAUSE * 1000:
            raise ValueError(f"--delay-ms must be from 0 to {_serve.MAX_PAUSE * 1000:g}, not {args.delay_ms}")
        options = _serve.Options(
            pieces=_parse_pieces(args.pieces),
            seed=args.seed,
            delay=args.delay_ms / 1000,
            fault=None if args.fault is None else _parse_fault(args.fault),
        )
        return _serve.serve(Path(args.path), args.host, args.port, options, sys.stdout)
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    except OSError as exc:
        where = args.path if exc.filename else f"{args.host}:{args.port}"
        raise _UsageError(f"cannot serve {where}: {reason(exc)}") from exc


def _parse_pieces(text: str) -> Pieces:
    """``--pieces``: a mode name or a size in bytes."""
    from ._serve import PIECE_MODES

    if text in PIECE_MODES:
        return text  # type: ignore[return-value]
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise ValueError(f"--pieces must be one of {', '.join(PIECE_MODES)} or a size >= 1, not {text!r}")


def _parse_fault(text: str) -> Fault:
    """``--fault``: ``drop:AFTER``, ``stall:SECONDS[:AFTER]`` or ``status:CODE[:BODY]`` (BODY is
    JSON when it parses as JSON, else text)."""
    from ._serve import Drop, Stall, Status

    kind, _, rest = text.partition(":")
    try:
        if kind == "drop" and rest.isdigit():
            return Drop(after=int(rest))
        if kind == "stall" and rest:
            seconds, _, after = rest.partition(":")
            return Stall(float(seconds), after=int(after) if after else 0)
        if kind == "status" and rest:
            code, _, body = rest.partition(":")
            if not body:
                return Status(int(code))
            try:
                return Status(int(code), json.loads(body))
            except ValueError:
                return Status(int(code), body)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--fault {text!r}: {exc}") from None
    raise ValueError(f"--fault must be drop:AFTER, stall:SECONDS[:AFTER] or status:CODE[:BODY], not {text!r}")


def _ignore(events: list[Event]) -> None:
    pass


def _usage_error(exc: _UsageError, out: Output, *, as_json: bool) -> int:
    if as_json:
        error = {"error": {"type": "UsageError", "message": exc.message}}
        out.json(to_json(error, ascii_only=out.ascii_only, indent=2) + "\n")
        out.flush()
        _say(exc.message)
    elif exc.usage:
        _write_stderr(f"{exc.usage}{exc.prog}: error: {exc.message}\n")
    else:
        _say(exc.message)
    return EXIT_USAGE


def _json_first(argv: list[str]) -> list[str]:
    """``--j``, ``--js`` and ``--jso`` keep meaning ``--json``, as before ``--jsonl`` and ``--jobs``
    made them ambiguous to argparse (scripts written then must not break)."""
    out: list[str] = []
    for number, arg in enumerate(argv):
        if arg == "--":
            return out + argv[number:]
        out.append("--json" if arg in ("--j", "--js", "--jso") else arg)
    return out


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
            raise _UsageError(f"cannot read the bundled stream: {reason(exc)}") from exc
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
            raise _UsageError(f"cannot read {name}: {reason(exc)}") from exc
        with file:
            if name.lower().endswith(".jsonl"):
                # One chunk payload per line (a recording `chunkwise serve` also replays).
                yield jsonl_to_sse(file.read())
                return
            yield from _read(file, name)


def _read(source: Any, label: str) -> Iterator[bytes]:
    # read1 returns what is there (one system call) instead of waiting for a full piece, so
    # `curl ... | chunkwise replay --events -` prints events as they arrive.
    read = getattr(source, "read1", None) or source.read
    while True:
        try:
            piece = read(_PIECE)
        except (OSError, ValueError) as exc:
            raise _UsageError(f"cannot read {label}: {reason(exc)}") from exc
        if not piece:
            return
        # A text stream (stdin replaced by io.StringIO) yields str; bytes are what the SSE layer
        # reads, and a lone surrogate becomes invalid UTF-8 that it reports as such.
        yield piece.encode("utf-8", "surrogatepass") if isinstance(piece, str) else bytes(piece)


# ---------------------------------------------------------------- stderr


def _say(message: str) -> None:
    """One line on stderr: newlines in the message (a server's text) are written as ``\\n``."""
    if not write_line(sys.stderr, message) and sys.stderr is not None:
        discard_pending(sys.stderr)  # stderr is full or gone: there is nowhere left to say it


def _write_stderr(text: str) -> None:
    if not write_text(sys.stderr, text) and sys.stderr is not None:
        discard_pending(sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
