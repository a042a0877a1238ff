"""A recording played back: what ``chunkwise.replay`` and ``chunkwise serve`` share, and the server.

Standard library and chunkwise's core only, so ``chunkwise serve`` runs without the ``http`` extra;
``chunkwise.replay`` (httpx) imports the first half from here and re-exports its public names.

The first half has no I/O beyond reading a file. ``load`` gives a recording's bytes. ``reply``
decides what one request gets: the stream as recorded, the assembled ``chat.completion`` as JSON
when the request did not ask for a stream (a real endpoint does the same), or the error status and
body of a ``Status`` fault. ``steps`` cuts a reply's body into the pieces it is sent in and puts
the fault where it strikes: each step is bytes to send, a ``Stall`` (wait, then go on), or a
``Drop`` (the last step: the connection is cut). The transport and the server only carry steps out.

The second half is ``chunkwise serve``: HTTP/1.1 on a thread per connection
(``ThreadingHTTPServer``), so a slow client never holds up another; every body is sent with
chunked transfer, one HTTP chunk per piece, and a drop closes the connection where the chunked
terminator would have been (what httpx reports as "peer closed connection without sending
complete message body").
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, TextIO

from ._assembler import assemble
from ._errors import ChunkwiseError, ServerError
from ._payloads import SUFFIXES, jsonl_to_sse

#: How a body is cut: one piece, one per line, one per byte, pieces of a fixed size, or seeded sizes.
Pieces = Literal["whole", "lines", "bytes", "random"] | int
PIECE_MODES = ("whole", "lines", "bytes", "random")
#: Largest of the "random" sizes (they are spread evenly over the powers of two up to it), so a
#: recording gets cuts inside lines, inside UTF-8 characters, and whole runs of events alike.
_RANDOM_MAX_BITS = 12


# ---------------------------------------------------------------- faults


def _count(owner: str, value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"{owner}: after must be an int (bytes of the body sent first), not {value!r}")
    if value < 0:
        raise ValueError(f"{owner}: after must be >= 0, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class Drop:
    """Cut the connection after ``after`` bytes of the body (the client sees a connection that
    closed before the body was complete)."""

    after: int = 0

    def __post_init__(self) -> None:
        _count("Drop", self.after)


#: The longest pause a Stall or a delay may ask for, in seconds (a day). Longer ones overflow the
#: platform's sleep (OverflowError past about 9e9 s) and no test waits that long.
MAX_PAUSE = 86_400.0


@dataclass(frozen=True, slots=True)
class Stall:
    """Send ``after`` bytes of the body, then nothing for ``seconds``, then the rest. A client whose
    read timeout is shorter gives up (the transport raises ``httpx.ReadTimeout`` when it would)."""

    seconds: float
    after: int = 0

    def __post_init__(self) -> None:
        if type(self.seconds) not in (int, float) or not 0 <= self.seconds <= MAX_PAUSE:
            raise ValueError(f"Stall: seconds must be a number from 0 to {MAX_PAUSE:g}, not {self.seconds!r}")
        _count("Stall", self.after)


@dataclass(frozen=True, slots=True)
class Status:
    """Answer ``code`` (400-599) with ``body`` instead of the recording.

    ``body`` is kept as bytes: bytes as given, a str as UTF-8 (sent as ``text/plain``), anything
    else as JSON; None gives ``{"error": {"code": code, "message": <the status phrase>}}``.
    ``headers`` (``Retry-After``, a content type of your own) are added to the answer.
    """

    code: int
    body: Any = None
    headers: Any = field(default=())  # a mapping or (name, value) pairs; kept as a tuple of pairs

    def __post_init__(self) -> None:
        if type(self.code) is not int or not 400 <= self.code <= 599:
            raise ValueError(f"Status: code must be an int from 400 to 599, not {self.code!r}")
        body, kind = self.body, "application/json"
        if body is None:
            body = {"error": {"code": self.code, "message": _phrase(self.code)}}
        if isinstance(body, str):
            body, kind = body.encode("utf-8"), "text/plain; charset=utf-8"
        elif isinstance(body, (bytes, bytearray, memoryview)):
            body = bytes(body)
        else:
            try:
                body = json.dumps(body, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise TypeError(f"Status: body must be bytes, str or JSON data: {exc}") from None
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "headers", (("content-type", kind), *_pairs("Status", self.headers)))


Fault = Drop | Stall | Status


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "error"


def _pairs(owner: str, headers: object) -> tuple[tuple[str, str], ...]:
    items: Any = headers.items() if isinstance(headers, Mapping) else headers
    try:
        pairs = tuple((name, value) for name, value in items)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: headers must be a mapping of str to str, not {headers!r}") from None
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"{owner}: header names and values must be str, not {name!r}: {value!r}")
    return pairs


# ---------------------------------------------------------------- recordings


def load(path: str | os.PathLike[str]) -> bytes:
    """A recording as the bytes a server sent: a ``.sse`` file as it is, or a ``.jsonl`` file with
    one chunk payload per line, written as ``data:`` events followed by ``data: [DONE]``.

    Raises OSError when the file cannot be read, ValueError for any other suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():  # said first: "not a file without a suffix" would send the reader astray
        # errno and filename set: a caller names the path, not what it was doing (`cannot serve X`).
        raise FileNotFoundError(errno.ENOENT, "no such file or folder", str(path))
    if suffix not in SUFFIXES:
        raise ValueError(
            f"{path}: a recording is a .sse file (the raw bytes) or a .jsonl file (one chunk payload "
            f"per line), not {suffix or 'a file without a suffix'}"
        )
    data = path.read_bytes()
    return data if suffix == ".sse" else jsonl_to_sse(data)


@dataclass(frozen=True, slots=True)
class Reply:
    """What one request gets: its status, headers and body, before cutting and faults."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    streamed: bool


def wants_json(request_body: bytes) -> bool:
    """A JSON object without ``"stream": true`` asks for one ``chat.completion``, as the API says;
    any other body (none, not JSON) gets the stream, since replaying the stream is the point."""
    try:
        value = json.loads(request_body) if request_body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(value, dict) and value.get("stream") is not True


def reply(
    recording: bytes,
    request_body: bytes,
    *,
    status: int = 200,
    headers: Sequence[tuple[str, str]] = (),
    fault: Fault | None = None,
) -> Reply:
    """The answer to one request (see the module docstring); ``headers`` override the defaults."""
    if isinstance(fault, Status):
        # The answer's own headers stay (a request id, retry-after); the fault's win where both name one.
        return Reply(fault.code, _merge(headers, fault.headers), fault.body, streamed=False)
    if wants_json(request_body):
        code, body = _assembled(recording)
        return Reply(code if status == 200 else status, _merge(_JSON, headers), body, streamed=False)
    return Reply(status, _merge(_SSE, headers), recording, streamed=True)


_SSE = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))
_JSON = (("content-type", "application/json"),)


def _merge(base: Sequence[tuple[str, str]], extra: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    merged = {name.lower(): (name, value) for name, value in base}
    merged.update({name.lower(): (name, value) for name, value in extra})
    return tuple(merged.values())


@functools.lru_cache(maxsize=64)  # bytes cache their hash: a hit on the same recording costs nothing
def _assembled(recording: bytes) -> tuple[int, bytes]:
    """The recording as the JSON answer a non-streaming request gets, with its status.

    A recording that does not assemble cannot be one JSON answer: one that ends in a server error
    answers that error (its code when it is an HTTP status, else 500, with the body it sent); an
    incomplete or malformed one answers 500 naming why.
    """
    try:
        completion = assemble(recording)
    except ServerError as exc:
        code = exc.code if type(exc.code) is int and 400 <= exc.code <= 599 else 500
        body = exc.body if isinstance(exc.body, (dict, list)) else {"error": {"message": exc.message}}
        return code, json.dumps(body).encode("utf-8")
    except ChunkwiseError as exc:
        error = {"message": f"the recording does not assemble: {exc.message}", "type": type(exc).__name__}
        return 500, json.dumps({"error": error}).encode("utf-8")
    return 200, json.dumps(completion.model_dump(mode="json", exclude_none=True)).encode("utf-8")


def pieces_of(body: bytes, pieces: Pieces, seed: int) -> Iterator[bytes]:
    """``body`` cut as ``pieces`` says; "random" draws sizes from a fresh ``random.Random(seed)``,
    so every reply of a transport or server cuts the same body at the same places."""
    if pieces == "whole":
        if body:
            yield body
    elif pieces == "lines":
        yield from body.splitlines(keepends=True)
    elif pieces == "random":
        rng, at = random.Random(seed), 0
        while at < len(body):
            size = int(2 ** rng.uniform(0, _RANDOM_MAX_BITS))
            yield body[at : at + size]
            at += size
    else:
        size = 1 if pieces == "bytes" else int(pieces)
        for at in range(0, len(body), size):
            yield body[at : at + size]


def steps(body: bytes, pieces: Pieces, seed: int, fault: Fault | None) -> Iterator[bytes | Drop | Stall]:
    """The body's pieces with the fault where it strikes: after exactly ``fault.after`` bytes (the
    piece it falls in is cut there), or at the end when the body is shorter. Nothing follows a Drop."""
    strike = fault if isinstance(fault, (Drop, Stall)) else None
    sent = 0
    for piece in pieces_of(body, pieces, seed):
        if strike is not None and sent + len(piece) >= strike.after:
            cut = strike.after - sent
            if cut:
                yield piece[:cut]
            yield strike
            if isinstance(strike, Drop):
                return
            piece, strike = piece[cut:], None
            if not piece:
                continue
        sent += len(piece)
        yield piece
    if strike is not None:
        yield strike


# ---------------------------------------------------------------- which recording


class Recordings:
    """The recordings a server plays: one file, or every .sse/.jsonl file under a folder, read at start.

    Names are paths relative to the folder (``vertex/parallel-tool-calls.sse``); a request may give
    one with or without its suffix, or its file name or stem alone when no other recording shares it.
    """

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            if not files:
                raise ValueError(f"{path}: no .sse or .jsonl recordings in this folder")
            named = {p.relative_to(path).as_posix(): p for p in files}
        else:
            named = {path.name: path}
        self.data = {name: load(p) for name, p in named.items()}
        self._keys: dict[str, list[str]] = {}
        for name in self.data:
            stem = name.rpartition(".")[0]
            for key in {name, stem, name.rpartition("/")[2], stem.rpartition("/")[2]}:
                self._keys.setdefault(key, []).append(name)

    def choose(self, fixture: str | None, model: object) -> tuple[str | None, str]:
        """(name, "") for the recording a request asks for, or (None, why none could be chosen):
        the ``x-chunkwise-fixture`` header, else the ``model``, else the only recording."""
        for asked, how in ((fixture, "x-chunkwise-fixture"), (model, "model")):
            if not isinstance(asked, str):
                continue
            found = self._keys.get(asked, [])
            if len(found) == 1:
                return found[0], ""
            if found:
                return None, f"{how} {asked!r} matches several recordings: {', '.join(found)}"
            if how == "x-chunkwise-fixture":
                return None, f"no recording is named {asked!r} (x-chunkwise-fixture)"
        if len(self.data) == 1:
            return next(iter(self.data)), ""
        return None, f"no recording matches model {model!r}"


# ---------------------------------------------------------------- the server

# OpenAI's path, with and without the /v1 a base URL ends in, and Vertex AI's OpenAI-compatible
# forms: .../endpoints/openapi/chat/completions for Google's models, .../endpoints/{id}/... for a
# deployed endpoint (both under v1 and v1beta1).
ROUTE = re.compile(
    r"/(?:v1/)?chat/completions|/v1(?:beta1)?/projects/[^/]+/locations/[^/]+/endpoints/[^/]+/chat/completions"
)
_MAX_REQUEST = 64 << 20


@dataclass(frozen=True, slots=True)
class Options:
    """How ``chunkwise serve`` plays every reply."""

    pieces: Pieces = "random"
    seed: int = 0
    delay: float = 0.0  # seconds between two pieces
    fault: Fault | None = None

    def __post_init__(self) -> None:
        if isinstance(self.delay, bool) or not isinstance(self.delay, (int, float)):
            raise ValueError(f"delay must be a number of seconds, not {self.delay!r}")
        if not 0 <= self.delay <= MAX_PAUSE:
            raise ValueError(f"delay must be from 0 to {MAX_PAUSE:g} seconds, not {self.delay!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled or slow client never keeps the process alive
    request_queue_size = 128  # the default backlog of 5 refuses a burst of concurrent clients

    def __init__(
        self, address: tuple[str, int], recordings: Recordings, options: Options, out: TextIO | None
    ) -> None:
        self.recordings, self.options, self.out = recordings, options, out
        self.lock = threading.Lock()
        # Replies whose last bytes are sent but whose log line is not written yet: a stop waits
        # for them (briefly), or a client could have its whole answer and the log no line for it.
        self.unlogged = 0
        self.logged = threading.Condition()
        # Set when the server stops: a reply pausing (a Stall, a delay) wakes and ends, so its
        # thread does not outlive the server by the rest of the pause.
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    def finishing(self, change: int) -> None:
        """A reply's last bytes are about to go out (+1), or its log line is written (-1)."""
        with self.logged:
            self.unlogged += change
            if not self.unlogged:
                self.logged.notify_all()

    def wait_for_logs(self, timeout: float = 2.0) -> None:
        with self.logged:
            self.logged.wait_for(lambda: self.unlogged == 0, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets or drops a connection while the server reads it (it left a kept-alive
        # connection with a reply unread, or gave up mid-request) is an everyday event, not a fault
        # of the server: one log line, not socketserver's traceback on stderr. Anything else is a
        # bug in the handler and keeps its traceback.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            host, port = client_address[:2]
            self.log(f"- {host}:{port} -> the client closed the connection ({type(error).__name__})")
            return
        super().handle_error(request, client_address)

    def log(self, line: str) -> None:
        with self.lock:
            try:
                if self.out is not None:
                    try:
                        self.out.write(line + "\n")
                    except UnicodeEncodeError:  # a path the terminal's encoding cannot show
                        encoding = getattr(self.out, "encoding", None) or "ascii"
                        self.out.write(line.encode(encoding, "backslashreplace").decode(encoding) + "\n")
                    self.out.flush()
            except (OSError, ValueError):
                self.out = None  # stdout went away: keep serving, stop logging


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _finishing = False  # this reply is counted in `server.unlogged`

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _log instead

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own answers (a request line it cannot read, headers too long, a method or
        # HTTP version it does not serve): JSON and a log line, like every other answer.
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # http.server's guess for a line it cannot read;
            self.request_version = "HTTP/1.1"  # an HTTP/0.9 answer would have no status line
        self._error(int(code), message or _phrase(code))

    def do_GET(self) -> None:
        self.close_connection = True  # a body it may have is not read
        self._error(405, "use POST", extra=(("allow", "POST"),))

    def do_POST(self) -> None:
        started = time.perf_counter()
        body = self._body()  # read first, or a kept-alive connection would read it as the next request
        if body is None:
            return
        path = self.path.partition("?")[0]
        if not ROUTE.fullmatch(path):
            self._error(404, f"no route {path}: POST to /v1/chat/completions or a Vertex AI chat path")
            return
        try:
            request = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            self._error(400, f"the request body is not JSON: {exc}")
            return
        model = request.get("model") if isinstance(request, dict) else None
        name, why = self.server.recordings.choose(self.headers.get("x-chunkwise-fixture"), model)
        if name is None:
            names = list(self.server.recordings.data)
            why += f"; name one with the model or the x-chunkwise-fixture header: {', '.join(names)}"
            self._error(404, why, recordings=names)
            return
        options = self.server.options
        answer = reply(self.server.recordings.data[name], body, fault=options.fault)
        try:
            outcome = self._send(answer, options)
            kind = "stream" if answer.streamed else "json"
            took = (time.perf_counter() - started) * 1000
            self._log(f"{answer.status} {name} {kind} {len(answer.body)} bytes {outcome} {took:.1f} ms")
        finally:
            if self._finishing:
                self.server.finishing(-1)

    def _send(self, answer: Reply, options: Options) -> str:
        """Send the reply in pieces with chunked transfer; says how it ended."""
        fault = None if isinstance(options.fault, Status) else options.fault
        head = [f"HTTP/1.1 {answer.status} {_phrase(answer.status)}", "transfer-encoding: chunked"]
        head += [f"{name}: {value}" for name, value in answer.headers]
        write = self.wfile.write
        count = 0
        self._finishing = False
        try:
            write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            for step in steps(answer.body, options.pieces, options.seed, fault):
                if isinstance(step, Drop):
                    self.close_connection = True
                    return f"dropped after {step.after} bytes"
                pause = step.seconds if isinstance(step, Stall) else options.delay if count else 0.0
                if pause and self.server.stopping.wait(pause):
                    self.close_connection = True
                    return f"stopped by the server after {count} pieces"
                if isinstance(step, Stall):
                    continue
                write(b"%x\r\n%s\r\n" % (len(step), step))
                count += 1
            self.server.finishing(1)  # from here to the log line, a stop waits for this reply
            self._finishing = True
            write(b"0\r\n\r\n")
        except OSError:  # the client left (a read timeout, an early exit)
            self.close_connection = True
            return f"client left after {count} pieces"
        return f"in {count} pieces"

    def _body(self) -> bytes | None:
        """The request body (Content-Length or chunked), or None once an error was answered."""
        try:
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                return self._chunked()
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            self.close_connection = True
            self._error(400, f"unreadable Content-Length or chunked body (at most {_MAX_REQUEST} bytes)")
            return None
        if not 0 <= length <= _MAX_REQUEST:
            self.close_connection = True
            self._error(413, f"request bodies are limited to {_MAX_REQUEST} bytes")
            return None
        body = self.rfile.read(length)
        if len(body) < length:  # the client stopped sending before its Content-Length was reached
            self.close_connection = True
            self._error(400, f"the request body ended after {len(body)} of {length} bytes")
            return None
        return body

    def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0], 16)
            if size < 0:  # int() reads "-1": a negative read would wait for the client to close
                raise ValueError("negative chunk size")
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(body)
            if len(body) + size > _MAX_REQUEST:
                raise ValueError("too long")
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _error(self, code: int, message: str, *, extra: Sequence[tuple[str, str]] = (), **more: Any) -> None:
        error = {"code": code, "message": message, "status": HTTPStatus(code).name, **more}
        data = json.dumps({"error": error}).encode("utf-8")
        self.send_response(code)
        for name, value in (("content-type", "application/json"), *extra):
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.server.finishing(1)  # as for a reply sent whole (see `_send`): a stop waits for the log
        try:
            self.wfile.write(data)
            self._log(f"{code} {message.partition(';')[0]}")
        finally:
            self.server.finishing(-1)

    def _log(self, what: str) -> None:
        # A request line that could not be read leaves no method or path.
        self.server.log(f"{self.command or '-'} {getattr(self, 'path', '-')} -> {what}")


def serve(path: Path, host: str, port: int, options: Options, out: TextIO | None) -> int:
    """Run ``chunkwise serve`` until Ctrl-C or SIGTERM: print the base URL, then a line per request.

    Raises ValueError or OSError (the recordings cannot be read, the address cannot be bound).
    """
    recordings = Recordings(path)
    server_type = _Server6 if ":" in host else _Server
    server = server_type((host, port), recordings, options, out)

    def stop(signum: int, frame: object) -> None:
        # Ask the loop to stop; do not raise into it. A KeyboardInterrupt raised wherever the main
        # thread is (inside `Thread.start` in `process_request`, during a burst of connections) made
        # socketserver close a socket its new handler thread was using: a traceback on stderr. A
        # second signal while the stop waits for log lines asks again, harmlessly.
        server.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    # SIGINT too: a shell starts background jobs with it ignored, and Python then never raises
    # KeyboardInterrupt; the server must still stop when asked.
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: the caller stops it
            previous[number] = signal.signal(number, stop)
    try:
        # The URL once the handlers are in place: whoever reads it may stop the server at once.
        bound_host, bound_port = server.socket.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        server.log(f"http://{shown}:{bound_port}/v1")
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:  # the caller's own Ctrl-C, when the handlers could not be installed
        pass
    finally:
        server.server_close()
        server.wait_for_logs()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0
