"""`chunkwise record`: the bytes as served, a sidecar of the exchange, and no credential in any file."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chunkwise._cli import main
from chunkwise._record import Live, meta_path, redact_headers, redact_url

from helpers import FIXTURES, Served

VERTEX = FIXTURES / "vertex" / "parallel-tool-calls.sse"
TOKEN = "ya29.secret-token-from-env-0123456789"
COMMAND_TOKEN = "ya29.secret-token-from-command-9876543210"
API_KEY = "AIzaSy-secret-query-key-55555"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    server = Served(str(FIXTURES), "--pieces", "random", "--seed", "5")
    yield server
    server.stop()


def run(argv: list[str]) -> tuple[int, str, str]:
    """`main(argv)` in-process; stdout and stderr as text."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def request_body(tmp_path: Path, model: str = "vertex/parallel-tool-calls") -> Path:
    body = tmp_path / "body.json"
    body.write_text(
        json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    )
    return body


def files_hold(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.parametrize("how", ["env", "command"])
def test_record_writes_the_served_bytes_and_no_token(
    served: Served, tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording `chunkwise serve` writes the file byte for byte as served; the token (env or command) is in no file."""
    if how == "env":
        monkeypatch.setenv("CHUNKWISE_TEST_TOKEN", TOKEN)
        token, secret = ["--token-env", "CHUNKWISE_TEST_TOKEN"], TOKEN
    else:
        printer = shlex.join([sys.executable, "-c", f"print({COMMAND_TOKEN!r})"])
        token, secret = ["--token-command", printer], COMMAND_TOKEN
    out = tmp_path / "out.sse"
    url = f"{served.url}/chat/completions?key={API_KEY}&alt=sse"
    argv = ["record", url, "--body", str(request_body(tmp_path)), "-o", str(out), *token]
    argv += ["-H", f"x-goog-api-key: {API_KEY}", "-H", "Cookie: session=abcdef123456", "-H", "X-Trace: t1"]
    code, stdout, stderr = run(argv)
    assert (code, stdout) == (0, ""), stderr
    assert out.read_bytes() == VERTEX.read_bytes()
    for value in (secret, API_KEY, "abcdef123456"):
        assert files_hold(tmp_path.parent, value) == [] and value not in stderr
    meta = json.loads(meta_path(out).read_text())
    assert meta["status"] == 200 and meta["bytes"] == len(VERTEX.read_bytes())
    assert meta["url"] == f"{served.url}/chat/completions?key=[redacted]&alt=sse"
    headers = dict(meta["request"]["headers"])
    assert headers["Authorization"] == headers["x-goog-api-key"] == headers["Cookie"] == "[redacted]"
    assert headers["X-Trace"] == "t1"
    assert meta["request"]["body"]["model"] == "vertex/parallel-tool-calls"
    assert dict(meta["response_headers"])["content-type"].startswith("text/event-stream")
    timing = meta["timing"]
    assert 0 <= timing["headers_seconds"] <= timing["first_byte_seconds"] <= timing["total_seconds"]


def test_record_shows_the_stream_on_stderr_only(served: Served, tmp_path: Path) -> None:
    """While recording, stderr shows the answer and each tool call as it forms; stdout stays empty."""
    out = tmp_path / "calls.sse"
    code, stdout, stderr = run(
        ["record", f"{served.url}/chat/completions", "--body", str(request_body(tmp_path)), "-o", str(out)]
    )
    assert (code, stdout) == (0, "")
    assert "tool call 0 get_current_weather: " in stderr and '"location"' in stderr
    assert "finished: tool_calls]" in stderr


def test_http_error_is_recorded_and_exits_3(tmp_path: Path) -> None:
    """An error status is recorded as received (body and sidecar), and exits 3 with one line on stderr."""
    server = Served(str(VERTEX), "--fault", 'status:429:{"error": {"message": "slow down"}}')
    try:
        out = tmp_path / "err.sse"
        code, stdout, stderr = run(
            [
                "record",
                f"{server.url}/chat/completions",
                "--body",
                str(request_body(tmp_path)),
                "-o",
                str(out),
            ]
        )
    finally:
        server.stop()
    assert (code, stdout) == (3, "")
    assert stderr.endswith(f"chunkwise: HTTP 429: recorded in {out}\n")
    assert json.loads(out.read_bytes()) == {"error": {"message": "slow down"}}
    assert json.loads(meta_path(out).read_text())["status"] == 429


def test_incomplete_stream_is_recorded_and_exits_4(tmp_path: Path) -> None:
    """A stream that drops mid-way keeps what came, and exits with the replay code of what went wrong."""
    server = Served(str(VERTEX), "--fault", "drop:700")
    try:
        out = tmp_path / "cut.sse"
        code, _, stderr = run(
            [
                "record",
                f"{server.url}/chat/completions",
                "--body",
                str(request_body(tmp_path)),
                "-o",
                str(out),
            ]
        )
    finally:
        server.stop()
    assert (
        code == 4
        and stderr.endswith(f"recorded in {out}\n")
        and "the connection broke after 700 bytes" in stderr
    )
    assert out.read_bytes() == VERTEX.read_bytes()[:700]
    meta = json.loads(meta_path(out).read_text())
    assert meta["bytes"] == 700 and meta["connection_error"].startswith("RemoteProtocolError")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--token-env", "CHUNKWISE_SURELY_UNSET"],
            "--token-env: the environment variable CHUNKWISE_SURELY_UNSET is not set",
        ),
        (["--token-command", "false"], "--token-command: 'false' exited 1"),
        (["--token-command", "no-such-program-xyz"], "--token-command: cannot run"),
        (["-H", "no colon here"], "-H wants 'Name: value'"),
    ],
)
def test_usage_errors(extra: list[str], message: str, tmp_path: Path) -> None:
    """A token that cannot be had or a malformed header exits 2 with one line, before any request."""
    out = tmp_path / "x.sse"
    code, stdout, stderr = run(
        [
            "record",
            "http://127.0.0.1:9/v1/chat/completions",
            "--body",
            str(request_body(tmp_path)),
            "-o",
            str(out),
            *extra,
        ]
    )
    assert (code, stdout) == (2, "") and stderr.startswith(f"chunkwise: {message}")
    assert not out.exists()


def test_unreachable_endpoint_and_missing_body(tmp_path: Path) -> None:
    """No server, or no body file: exit 2 with the reason and no file written."""
    out = tmp_path / "x.sse"
    code, _, stderr = run(
        [
            "record",
            "http://127.0.0.1:9/v1/chat/completions?key=abcdefgh",
            "--body",
            str(request_body(tmp_path)),
            "-o",
            str(out),
        ]
    )
    assert (
        code == 2
        and "cannot record http://127.0.0.1:9/v1/chat/completions?key=[redacted]: ConnectError" in stderr
    )
    assert "abcdefgh" not in stderr and not out.exists()
    code, _, stderr = run(
        ["record", "http://127.0.0.1:9/", "--body", str(tmp_path / "none.json"), "-o", str(out)]
    )
    assert code == 2 and stderr.startswith("chunkwise: cannot read")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h/v1?key=abc&alt=sse", "https://h/v1?key=[redacted]&alt=sse"),
        (
            "https://h/v1?API_KEY=abc&access_token=t&x=1",
            "https://h/v1?API_KEY=[redacted]&access_token=[redacted]&x=1",
        ),
        ("https://user:pw@h/v1", "https://[redacted]@h/v1"),
        (
            "https://h/v1/projects/p/locations/l/endpoints/openapi/chat/completions",
            "https://h/v1/projects/p/locations/l/endpoints/openapi/chat/completions",
        ),
        ("https://h/v1?keyboard=1&monkey=2", "https://h/v1?keyboard=1&monkey=2"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    """Credential query values and passwords are replaced; every other byte of the URL is kept."""
    assert redact_url(url) == shown


def test_redact_headers_by_name_any_case() -> None:
    """Authorization, x-goog-api-key, api-key, cookies (either way) are replaced whatever their case."""
    given = [
        ("AUTHORIZATION", "Bearer x"),
        ("Api-Key", "k"),
        ("set-cookie", "a=b"),
        ("Set-Cookie", "c=d"),
        ("x-request-id", "7"),
    ]
    assert redact_headers(given) == [
        ["AUTHORIZATION", "[redacted]"],
        ["Api-Key", "[redacted]"],
        ["set-cookie", "[redacted]"],
        ["Set-Cookie", "[redacted]"],
        ["x-request-id", "7"],
    ]


def test_meta_path() -> None:
    """OUT.sse gets OUT.meta.json; any other name gets .meta.json appended."""
    assert meta_path(Path("a/b.sse")) == Path("a/b.meta.json")
    assert meta_path(Path("a/b.txt")) == Path("a/b.txt.meta.json")


def test_live_view_sets_thinking_apart() -> None:
    """The live view labels thinking, the answer and each tool call, dimming thinking only on a terminal."""
    from chunkwise import StreamAssembler

    from helpers import chunk, delta_choice, sse

    stream: Any = io.StringIO()
    live = Live(stream)
    assembler = StreamAssembler(emit_events=True)
    data = sse(
        chunk(delta_choice(reasoning_content="hmm")),
        chunk(delta_choice(content="Hi")),
        chunk(
            delta_choice(tool_calls=[{"index": 0, "id": "c", "function": {"name": "f", "arguments": '{"a"'}}])
        ),
        chunk(delta_choice(tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}])),
        chunk(delta_choice(finish="tool_calls")),
    )
    live.show(assembler.feed_bytes(data))
    live.show(assembler.close())
    live.end()
    assert stream.getvalue() == (
        'thinking: hmm\nanswer: Hi\ntool call 0 f: {"a": 1}\n[choice 0 finished: tool_calls]\n'
    )


def test_a_token_the_server_echoes_is_replaced_even_in_the_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that repeats the token is written with it replaced (stderr says so): no file ever holds it."""
    from helpers import chunk, delta_choice, sse

    echoing = tmp_path / "served" / "echo.sse"
    echoing.parent.mkdir()
    echoing.write_bytes(
        sse(chunk(delta_choice(content=f"your token is {TOKEN}")), chunk(delta_choice(finish="stop")))
    )
    server = Served(str(echoing))
    monkeypatch.setenv("CHUNKWISE_TEST_TOKEN", TOKEN)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"stream": true}')))
    out = tmp_path / "rec" / "echo.sse"
    out.parent.mkdir()
    try:
        code, _, stderr = run(
            [
                "record",
                f"{server.url}/chat/completions",
                "--body",
                "-",
                "-o",
                str(out),
                "--token-env",
                "CHUNKWISE_TEST_TOKEN",
            ]
        )
    finally:
        server.stop()
    assert code == 0 and "the response repeated a credential" in stderr and TOKEN not in stderr
    assert files_hold(out.parent, TOKEN) == [] and b"your token is [redacted]" in out.read_bytes()
    meta = json.loads(meta_path(out).read_text())
    assert meta["redacted_in_body"] is True and meta["request"]["body"] == {"stream": True}


def test_credentials_are_found_by_name_and_without_their_scheme() -> None:
    """Headers and parameters whose names say they hold credentials are redacted (Azure APIM, X-Auth-Token,
    a SAS `sig`, a token in the URL's user part), and a bearer token is searched for with and without
    its scheme, since a server may echo either."""
    from chunkwise._record import _header_secrets, _url_secrets, redact_headers, redact_url

    headers = [
        ("X-Auth-Token", "XAUTH1"),
        ("Ocp-Apim-Subscription-Key", "APIM1"),
        ("Accept", "text/event-stream"),
    ]
    assert redact_headers(headers) == [
        ["X-Auth-Token", "[redacted]"],
        ["Ocp-Apim-Subscription-Key", "[redacted]"],
        ["Accept", "text/event-stream"],
    ]
    assert "HDRSECRET42" in _header_secrets("Bearer HDRSECRET42")
    assert (
        redact_url("http://USERTOKEN123@h/v1?sig=SAS123&model=m")
        == "http://[redacted]@h/v1?sig=[redacted]&model=m"
    )
    assert {"USERTOKEN123", "SAS123"} <= set(_url_secrets("http://USERTOKEN123@h/v1?sig=SAS123&model=m"))


def test_an_invalid_url_is_a_usage_error(tmp_path: Path) -> None:
    """A URL httpx cannot read exits 2 with one line, no traceback, nothing written."""
    out = tmp_path / "x.sse"
    code, stdout, stderr = run(
        ["record", "http://[::1/v1?key=SECRET1", "--body", str(request_body(tmp_path)), "-o", str(out)]
    )
    assert (
        (code, stdout) == (2, "") and stderr.startswith("chunkwise: not a URL") and "Traceback" not in stderr
    )
    assert not out.exists() and "SECRET1" not in stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux) for a write that fails")
def test_out_that_fails_mid_body_exits_1_with_one_line(served: Served, tmp_path: Path) -> None:
    """A write that fails mid-body (disk full) is exit 1 with one line, as the README says; it was a
    traceback, since the `except BaseException` before it took it (hostile review)."""
    code, stdout, stderr = run(
        ["record", f"{served.url}/chat/completions", "--body", str(request_body(tmp_path)), "-o", "/dev/full"]
    )
    assert (code, stdout) == (1, "")
    assert "cannot write /dev/full" in stderr and "Traceback" not in stderr
