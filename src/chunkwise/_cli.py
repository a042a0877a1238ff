"""``chunkwise replay``: assemble a recorded SSE stream and show the result.

Exit codes (also in the README and ``--help``):

    0  the stream completed
    2  usage error, or the file could not be read
    3  the server reported an error in the stream        (ServerError)
    4  the stream ended before it was complete           (IncompleteStreamError)
    5  the stream is malformed (bad JSON, bad UTF-8, ...) (MalformedChunkError)

On a failed stream the partial result still goes to stdout, in the chosen format, and one line
naming the error goes to stderr. No input makes it print a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from ._assembler import StreamAssembler
from ._errors import (
    AssemblerStateError,
    ChunkwiseError,
    IncompleteStreamError,
    MalformedChunkError,
    ServerError,
)
from ._events import Event
from ._models import ChatCompletion

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_SERVER_ERROR = 3
EXIT_INCOMPLETE = 4
EXIT_MALFORMED = 5

_EXIT_BY_ERROR: list[tuple[type[ChunkwiseError], int]] = [
    (ServerError, EXIT_SERVER_ERROR),
    (IncompleteStreamError, EXIT_INCOMPLETE),
    (MalformedChunkError, EXIT_MALFORMED),
    (AssemblerStateError, EXIT_MALFORMED),
]

BUNDLED_FIXTURE = "parallel-tool-calls.sse"

_EPILOG = """\
exit codes: 0 complete; 2 usage error or unreadable file; 3 server error in the stream;
4 incomplete stream; 5 malformed stream. On a failure the partial result is still printed on
stdout and a one-line reason on stderr.
"""


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
    parser = argparse.ArgumentParser(
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
    mode.add_argument("--events", action="store_true", help="print the events, one JSON object per line")
    replay.add_argument(
        "--thought-tag", metavar="TAG", help="split <TAG>...</TAG> thinking out of the content (e.g. think)"
    )
    replay.add_argument(
        "--require-done", action="store_true", help="treat a stream without data: [DONE] as incomplete"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `chunkwise replay ... | head`: the reader left; nothing more to say.
        return EXIT_OK


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        # A terminal or pipe that cannot show some character must not turn into a traceback.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        data = _read(args.file)
    except OSError as exc:
        print(f"chunkwise: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        assembler = StreamAssembler(thought_tag=args.thought_tag, require_done=args.require_done)
    except ValueError as exc:
        print(f"chunkwise: {exc}", file=sys.stderr)
        return EXIT_USAGE
    events: list[Event] = []
    error: ChunkwiseError | None = None
    try:
        events += assembler.feed_bytes(data)
        events += assembler.close()
        result = assembler.completion
    except ChunkwiseError as exc:
        error = exc
        events += exc.events
        result = exc.partial if exc.partial is not None else assembler.snapshot

    out = sys.stdout
    if args.events:
        for event in events:
            out.write(json.dumps(event_to_dict(event), ensure_ascii=False, default=str) + "\n")
    elif args.json:
        out.write(json.dumps(result.model_dump(mode="json", exclude_none=True), ensure_ascii=False, indent=2))
        out.write("\n")
    else:
        render(result, out)
    out.flush()

    if error is None:
        return EXIT_OK
    print(f"chunkwise: {type(error).__name__}: {error.message}", file=sys.stderr)
    for kind, code in _EXIT_BY_ERROR:
        if isinstance(error, kind):
            return code
    return EXIT_MALFORMED


def _read(name: str | None) -> bytes:
    if name is None:
        return _bundled_fixture()
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as a JSON-ready mapping: its class name under ``type``, then its fields."""
    return {"type": type(event).__name__, **dataclasses.asdict(event)}


def render(completion: ChatCompletion, out: TextIO) -> None:
    """A readable view: thinking apart from the answer, each tool call with its arguments."""
    head = [f"model: {completion.model or '?'}", f"id: {completion.id or '?'}"]
    if not completion.done_received:
        head.append("(no [DONE])")
    out.write("  ".join(head) + "\n")
    for choice in completion.choices:
        message = choice.message
        out.write(f"\nchoice {choice.index}  finish_reason: {choice.finish_reason or '(none)'}\n")
        if message.reasoning_content:
            label = "thinking (unterminated)" if message.thinking_unterminated else "thinking"
            _block(out, label, message.reasoning_content)
        if isinstance(message.content, str) and message.content:
            _block(out, "answer", message.content)
        elif isinstance(message.content, list):
            _block(out, "answer (parts)", json.dumps(message.content, ensure_ascii=False, indent=2))
        if message.refusal:
            _block(out, "refusal", message.refusal)
        if message.audio is not None:
            audio = message.audio
            mime = ((audio.extra_content or {}).get("google") or {}).get("mime_type")
            size = len(audio.data or "")
            out.write(
                f"  audio/image output: {size} base64 characters" + (f", {mime}" if mime else "") + "\n"
            )
        for number, call in enumerate(message.tool_calls or [], start=1):
            signed = "thought signature: yes" if call.thought_signature else "thought signature: no"
            out.write(f"  tool call {number}: {call.function.name}  id={call.id}  ({signed})\n")
            if call.arguments_error is None:
                shown = json.dumps(call.parsed_arguments, ensure_ascii=False)
                out.write(f"    arguments: {shown}\n")
            else:
                out.write(f"    arguments (NOT valid JSON, kept as received): {call.function.arguments}\n")
                out.write(f"    {call.arguments_error}\n")
        if message.thought_signature:
            out.write("  message thought signature: yes\n")
    usage = completion.usage
    if usage is not None:
        parts = [f"prompt {usage.prompt_tokens}", f"completion {usage.completion_tokens}"]
        parts.append(f"total {usage.total_tokens}")
        details = (usage.model_extra or {}).get("completion_tokens_details")
        if isinstance(details, dict) and details.get("reasoning_tokens") is not None:
            parts.append(f"reasoning {details['reasoning_tokens']}")
        out.write("\nusage: " + ", ".join(parts) + "\n")


def _block(out: TextIO, label: str, text: str) -> None:
    out.write(f"  {label}:\n")
    # Blank lines at the ends (Vertex puts "\n\n" after a closing thought tag) say nothing to a
    # reader; --json keeps the text exactly.
    for line in text.strip("\n").splitlines() or [""]:
        out.write(f"    | {line}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
