"""``chunkwise record``: capture a live stream as a recording that ``replay`` and ``serve`` can play.

It POSTs a request body, writes the response body as received (the bytes after any content
encoding is undone; ``accept-encoding: identity`` is asked for so that there is normally none) to
``OUT``, and a sidecar ``OUT.meta.json``: the URL, request headers and body, status, response
headers and timing. It shows the stream on stderr as it arrives; stdout stays empty.

Credentials never reach a file. They are left out by name (``_SECRET_HEADERS`` in request and
response headers, ``_SECRET_PARAMS`` in the URL's query, a password in the URL), and then by
value: the bearer token and every value so removed are replaced wherever else they occur in the
sidecar (a server that echoes the request, an error message quoting the URL) and, should a server
echo one in its stream, in the recording, which is then no longer byte-exact: stderr says so.
The token is read from an environment variable or from a command's stdout (``gcloud auth
print-access-token`` for Vertex AI); it is never printed either.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx

from ._archive import exit_code
from ._assembler import StreamAssembler
from ._errors import ChunkwiseError
from ._events import (
    ChoiceFinished,
    ContentDelta,
    Event,
    FunctionCallArgumentsDelta,
    FunctionCallDone,
    FunctionCallStarted,
    ReasoningDelta,
    RefusalDelta,
    ServerErrorReceived,
    ToolCallArgumentsDelta,
    ToolCallDone,
    ToolCallStarted,
)
from ._output import reason, write_line, write_text

__all__ = ["RecordUsageError", "meta_path", "record_command", "redact_headers", "redact_url"]

REDACTED = "[redacted]"

# Headers that carry credentials: OpenAI-style bearer tokens, Gemini API's x-goog-api-key,
# Azure OpenAI's api-key, Anthropic-style x-api-key, and session cookies either way.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-goog-api-key", "api-key", "x-api-key", "cookie", "set-cookie"}
)
# Query parameters that carry credentials (Gemini API's `?key=`, and the common other spellings).
_SECRET_PARAMS = frozenset({"key", "api_key", "apikey", "api-key", "access_token", "token", "sig"})
# Any other header or parameter whose name says it holds a credential (Azure APIM's
# Ocp-Apim-Subscription-Key, X-Auth-Token, an Azure SAS `sig`, a session id): removed too.
_SECRET_NAME = re.compile(
    r"(?:^|[-_.])(?:auth\w*|(?:api|subscription)?[-_]?key|(?:access|refresh|id|auth)?[-_]?token"
    r"|secret\w*|passw\w*|credential\w*|session\w*|cookie|signature|sig)(?:$|[-_.])",
    re.IGNORECASE,
)
# A value shorter than this is not searched for by value (it would match ordinary text); it is
# still removed by name.
_MIN_SECRET = 4

EXIT_OUTPUT = 1
EXIT_HTTP_STATUS = 3
EXIT_INCOMPLETE = 4


class RecordUsageError(Exception):
    """The command line, the body or the token cannot be used, or the endpoint cannot be reached: exit 2."""


def meta_path(output: Path) -> Path:
    """``OUT.sse`` -> ``OUT.meta.json``; any other name gets ``.meta.json`` added."""
    if output.suffix == ".sse":
        return output.with_suffix(".meta.json")
    return output.with_name(output.name + ".meta.json")


def redact_headers(headers: Any) -> list[list[str]]:
    """``(name, value)`` pairs, credentials replaced by name; repeated headers kept in order."""
    items = headers.multi_items() if isinstance(headers, httpx.Headers) else list(headers)
    return [[name, REDACTED if _secret_name(name, _SECRET_HEADERS) else value] for name, value in items]


def _secret_name(name: str, known: frozenset[str]) -> bool:
    return name.lower() in known or _SECRET_NAME.search(name) is not None


def _header_secrets(value: str) -> list[str]:
    """A credential header's value, and its credential without the scheme (``Bearer x`` -> ``x``):
    a server may echo either."""
    scheme, _, credential = value.strip().partition(" ")
    found = [value]
    if credential and scheme.isalpha():
        found.append(credential.strip())
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):  # not base64 of text: nothing more to find
                found += base64.b64decode(credential, validate=True).decode("utf-8").split(":", 1)
    return found


def redact_url(url: str) -> str:
    """``url`` with credential query values and any password replaced; the rest byte for byte."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        # User and password both: a token is often passed as the user name.
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = "&".join(_redact_param(param) for param in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_param(param: str) -> str:
    name, equals, _value = param.partition("=")
    if equals and _secret_name(urllib.parse.unquote_plus(name), _SECRET_PARAMS):
        return f"{name}={REDACTED}"
    return param


def _url_secrets(url: str) -> list[str]:
    """The credential values in ``url`` (as written and decoded), to be searched for by value."""
    parts = urllib.parse.urlsplit(url)
    found = [parts.username or "", parts.password or ""]
    if parts.username is not None:
        # httpx sends URL credentials as `Authorization: Basic base64(user:password)`.
        pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        found += [base64.b64encode(pair.encode()).decode(), urllib.parse.unquote(parts.username)]
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if _secret_name(name, _SECRET_PARAMS):
            found += [value, urllib.parse.quote(value, safe="")]
    return found


# ---------------------------------------------------------------- the command


def record_command(args: argparse.Namespace, stderr: TextIO | None) -> int:
    """Run ``chunkwise record`` (options from ``_cli``); returns the exit code."""
    body = _read_body(args.body)
    headers = _headers(args.header)
    secrets = [
        v for name, value in headers if _secret_name(name, _SECRET_HEADERS) for v in _header_secrets(value)
    ]
    token = _token(args.token_env, args.token_command)
    if token is not None:
        headers = [(n, v) for n, v in headers if n.lower() != "authorization"]
        headers.append(("Authorization", f"Bearer {token}"))
        secrets.append(token)
    names = {name.lower() for name, _ in headers}
    if "content-type" not in names:
        headers.append(("Content-Type", "application/json"))
    if "accept-encoding" not in names:
        headers.append(("Accept-Encoding", "identity"))  # the bytes on the wire are the recording
    try:
        secrets += _url_secrets(args.url)
        shown_url = redact_url(args.url)
        httpx.URL(args.url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise RecordUsageError(f"not a URL: {exc}") from None
    secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    output = Path(args.output)
    live = Live(stderr, secrets)
    timeout = httpx.Timeout(30.0, read=args.timeout)
    started = datetime.datetime.now(datetime.timezone.utc)
    clock = time.perf_counter()
    first_byte: float | None = None
    size = 0
    error: ChunkwiseError | None = None
    broken: str | None = None
    try:
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("POST", args.url, content=body, headers=headers) as response,
        ):
            answered = time.perf_counter() - clock
            ok = response.is_success
            assembler = StreamAssembler(emit_events=True)
            try:
                file = open(output, "wb")  # noqa: SIM115 (closed by the `with` below)
            except OSError as exc:
                _say(stderr, f"cannot write {output}: {reason(exc)}")
                return EXIT_OUTPUT
            with file:
                try:
                    for piece in response.iter_bytes():
                        if first_byte is None:
                            first_byte = time.perf_counter() - clock
                        file.write(piece)
                        size += len(piece)
                        if ok and error is None:
                            try:
                                live.show(assembler.feed_bytes(piece))
                            except ChunkwiseError as exc:
                                error = exc  # keep recording: the bytes are the evidence
                except httpx.HTTPError as exc:
                    # The connection broke mid-body: what came is kept, and said to be cut short.
                    broken = f"{type(exc).__name__}: {exc}"
            if ok and error is None and broken is None:
                try:
                    live.show(assembler.close())
                except ChunkwiseError as exc:
                    error = exc
            live.end()
            status, response_headers = response.status_code, response.headers
            encoding = response.headers.get("content-encoding")
    except httpx.HTTPError as exc:
        # httpx's messages name the URL at most; the redacted one is shown, never the headers.
        raise RecordUsageError(f"cannot record {shown_url}: {type(exc).__name__}") from None
    except OSError as exc:
        # OUT could not be written mid-body (disk full): exit 1 with one line, as documented.
        _scrub_quietly(output, secrets)
        _say(stderr, f"cannot write {output}: {reason(exc)}")
        return EXIT_OUTPUT
    except BaseException:
        # Interrupted (Ctrl-C) or failed mid-body: what was written must not keep an echoed secret.
        _scrub_quietly(output, secrets)
        raise
    total = time.perf_counter() - clock

    meta = {
        "url": shown_url,
        "request": {"method": "POST", "headers": redact_headers(headers), "body": _body_value(body)},
        "status": status,
        "response_headers": redact_headers(response_headers),
        "content_decoded": encoding,  # the recording is the body after this encoding was undone
        "bytes": size,
        "connection_error": broken,
        "timing": {
            "started": started.isoformat(timespec="milliseconds"),
            "headers_seconds": round(answered, 6),
            "first_byte_seconds": None if first_byte is None else round(first_byte, 6),
            "total_seconds": round(total, 6),
        },
    }
    try:
        scrubbed = _scrub_file(output, secrets)
        if scrubbed:
            meta["redacted_in_body"] = True
            _say(stderr, f"the response repeated a credential: {output} has it replaced by {REDACTED}")
        text = json.dumps(meta, ensure_ascii=False, indent=2) + "\n"
        for secret in secrets:
            text = text.replace(json.dumps(secret, ensure_ascii=False)[1:-1], REDACTED)
        meta_path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        _say(stderr, f"cannot write {meta_path(output)}: {reason(exc)}")
        return EXIT_OUTPUT

    if not 200 <= status < 300:
        _say(stderr, f"HTTP {status}: recorded in {output}")
        return EXIT_HTTP_STATUS
    if broken is not None:
        _say(stderr, f"the connection broke after {size} bytes ({broken}): recorded in {output}")
        return EXIT_INCOMPLETE
    if error is not None:
        _say(stderr, f"{type(error).__name__}: {error.message}")
        return exit_code([type(error).__name__])
    return 0


def _read_body(name: str) -> bytes:
    try:
        if name == "-":
            stdin = sys.stdin
            if stdin is None:
                raise RecordUsageError("cannot read stdin: it is closed")
            data = getattr(stdin, "buffer", stdin).read()
            return data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return Path(name).read_bytes()
    except OSError as exc:
        raise RecordUsageError(f"cannot read {name}: {reason(exc)}") from None


def _headers(given: list[str]) -> list[tuple[str, str]]:
    headers = []
    for text in given:
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            # The text may be a credential: say which header by its name only.
            raise RecordUsageError(f"-H wants 'Name: value', not {name.strip()[:40]!r}...")
        headers.append((name.strip(), value.strip()))
    return headers


def _token(env: str | None, command: str | None) -> str | None:
    if env is not None:
        value = os.environ.get(env, "").strip()
        if not value:
            raise RecordUsageError(f"--token-env: the environment variable {env} is not set or empty")
        return value
    if command is None:
        return None
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, timeout=120, check=False)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise RecordUsageError(f"--token-command: cannot run {command!r}: {reason(exc)}") from None
    if done.returncode != 0:
        raise RecordUsageError(f"--token-command: {command!r} exited {done.returncode}")
    value = done.stdout.decode("utf-8", "replace").strip()
    if not value or "\n" in value:
        raise RecordUsageError(f"--token-command: {command!r} must print one token on one line")
    return value


def _body_value(body: bytes) -> Any:
    """The request body for the sidecar: its JSON when it is JSON, else its text."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _scrub_quietly(path: Path, secrets: list[str]) -> None:
    """``_scrub_file`` on what a failed recording left, if it is a regular file (never a device such
    as /dev/full, which reads forever); a failure here must not hide the one being reported."""
    try:
        if path.is_file():
            _scrub_file(path, secrets)
    except OSError:
        pass


def _scrub_file(path: Path, secrets: list[str]) -> bool:
    """Replace any secret the recording repeats; whether there was one."""
    if not secrets:
        return False
    data = path.read_bytes()
    cleaned = data
    for secret in secrets:
        cleaned = cleaned.replace(secret.encode("utf-8"), REDACTED.encode("ascii"))
    if cleaned == data:
        return False
    path.write_bytes(cleaned)
    return True


def _say(stderr: TextIO | None, message: str) -> None:
    write_line(stderr, message)  # a failure is ignored: the recording is what matters


def _write(stream: TextIO | None, text: str) -> None:
    write_text(stream, text)  # the live view is a courtesy: a failure is ignored


# ---------------------------------------------------------------- the live view


class Live:
    """The stream as a person wants to watch it: thinking dimmed and apart from the answer, each
    tool call's name then its arguments as they form. Dimming (ANSI) only on a terminal."""

    def __init__(self, stream: TextIO | None, secrets: Sequence[str] = ()) -> None:
        self._stream = stream
        self._secrets = secrets  # replaced in what is shown too: stderr is often a log file
        try:
            tty = stream is not None and stream.isatty()
        except (OSError, ValueError, AttributeError):
            tty = False
        self._dim, self._plain = ("\x1b[2m", "\x1b[0m") if tty else ("", "")
        self._section: tuple[int, str] | None = None
        self._choices: set[int] = set()

    def show(self, events: list[Event]) -> None:
        parts: list[str] = []
        for event in events:
            self._one(event, parts)
        if parts:
            text = "".join(parts)
            for secret in self._secrets:
                text = text.replace(secret, REDACTED)
            _write(self._stream, text)

    def end(self) -> None:
        if self._section is not None:
            _write(self._stream, self._plain + "\n")
            self._section = None

    def _enter(self, choice: int, kind: str, parts: list[str]) -> None:
        """Start a section (a label on its own line) unless it is the one being written."""
        if self._section == (choice, kind):
            return
        if self._section is not None:
            parts.append(self._plain + "\n")
        self._choices.add(choice)
        where = f"[choice {choice}] " if len(self._choices) > 1 or choice else ""
        parts.append(f"{where}{kind}: ")
        if kind == "thinking":
            parts.append(self._dim)
        self._section = (choice, kind)

    def _one(self, event: Event, parts: list[str]) -> None:
        match event:
            case ReasoningDelta(choice=choice, delta=delta):
                self._enter(choice, "thinking", parts)
                parts.append(delta)
            case ContentDelta(choice=choice, delta=delta):
                self._enter(choice, "answer", parts)
                parts.append(delta)
            case RefusalDelta(choice=choice, delta=delta):
                self._enter(choice, "refusal", parts)
                parts.append(delta)
            case ToolCallStarted(choice=choice, call=call, name=name):
                self._enter(choice, f"tool call {call} {name or '?'}", parts)
            case ToolCallArgumentsDelta(choice=choice, call=call, delta=delta):
                if self._section is None or not self._section[1].startswith(f"tool call {call} "):
                    self._enter(choice, f"tool call {call}", parts)
                parts.append(delta)
            case ToolCallDone() | FunctionCallDone():
                self.end_section(parts)
            case FunctionCallStarted(choice=choice, name=name):
                self._enter(choice, f"function call {name or '?'}", parts)
            case FunctionCallArgumentsDelta(choice=choice, delta=delta):
                parts.append(delta)
            case ChoiceFinished(choice=choice, finish_reason=finish):
                self.end_section(parts)
                parts.append(f"[choice {choice} finished: {finish}]\n")
            case ServerErrorReceived(message=message):
                self.end_section(parts)
                parts.append(f"[server error: {' '.join(message.splitlines())}]\n")
            case _:
                pass

    def end_section(self, parts: list[str]) -> None:
        if self._section is not None:
            parts.append(self._plain + "\n")
            self._section = None
