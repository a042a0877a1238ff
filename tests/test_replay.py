"""chunkwise.replay (the httpx transport) and `chunkwise serve` (the loopback server), with faults."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import chunkwise
from chunkwise._cli import main
from chunkwise.http import afrom_openai, astream_chat, from_openai, stream_chat
from chunkwise.replay import Drop, ReplayTransport, Stall, Status, load

from helpers import FIXTURES, Served, chunk, delta_choice, sse

STREAMS = sorted(FIXTURES.rglob("*.sse"))
NAMES = [p.relative_to(FIXTURES).as_posix() for p in STREAMS]
VERTEX = FIXTURES / "vertex" / "parallel-tool-calls.sse"
MESSAGES: Any = [{"role": "user", "content": "hi"}]
BODY = {"model": "m", "messages": MESSAGES, "stream": True}
# The SDK's own SSE reader drops Vertex's raw error line (not an SSE field), so through it that
# stream only looks cut short.
SDK_LOSES = {"failures/vertex-raw-error-line.sse"}
TEXT = sse(
    chunk(delta_choice(role="assistant", content="Partial ")),
    chunk(delta_choice(content="answer")),
    chunk(delta_choice(content=", then more", finish="stop")),
)
FIRST_TWO = TEXT[: TEXT.index(b"data: ", TEXT.index(b"answer"))]


def options(stream: Path) -> dict[str, Any]:
    spec = json.loads(stream.with_name(stream.name.replace(".sse", ".expected.json")).read_text())
    args = spec["args"]
    return {"thought_tag": args[args.index("--thought-tag") + 1]} if "--thought-tag" in args else {}


def outcome(call: Callable[[], chunkwise.ChatCompletion]) -> tuple[str, dict[str, Any]]:
    """("ok", completion) or (error type name, partial), as JSON."""
    try:
        completion, kind = call(), "ok"
    except chunkwise.ChunkwiseError as exc:
        completion, kind = exc.partial, type(exc).__name__
    assert completion is not None
    return kind, completion.model_dump(mode="json", exclude_none=True)


def dumped(body: bytes, **kwargs: Any) -> dict[str, Any]:
    return chunkwise.assemble(body, **kwargs).model_dump(mode="json", exclude_none=True)


def sdk_outcomes(
    make_sync: Callable[[], openai.OpenAI],
    make_async: Callable[[], openai.AsyncOpenAI],
    model: str,
    **kw: Any,
) -> list[tuple[str, dict[str, Any]]]:
    """What openai-python (sync, then async) streams from the client's server, through from_openai."""

    def sync() -> chunkwise.ChatCompletion:
        with make_sync() as client:
            return from_openai(
                client.chat.completions.create(model=model, messages=MESSAGES, stream=True), **kw
            )

    async def run_async() -> chunkwise.ChatCompletion:
        async with make_async() as client:
            created = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
            return await afrom_openai(created, **kw)

    return [outcome(sync), outcome(lambda: asyncio.run(run_async()))]


def check_sdk(name: str, stream: Path, got: list[tuple[str, dict[str, Any]]]) -> None:
    expected = outcome(lambda: chunkwise.assemble(stream.read_bytes(), **options(stream)))
    for theirs in got:
        if name in SDK_LOSES:
            assert expected[0] == "ServerError" and theirs == ("IncompleteStreamError", expected[1])
        else:
            assert theirs == expected


def read(
    client: httpx.Client, body: Any = BODY, url: str = "http://replay/v1/chat/completions"
) -> chunkwise.ChatCompletion:
    with stream_chat(client, url, json=body) as stream:
        return stream.until_done()


# ---------------------------------------------------------------- load


def test_load_sse_jsonl_and_other_suffixes(tmp_path: Path) -> None:
    """`.sse` is read as it is; `.jsonl` becomes one event per line and `[DONE]`; other suffixes are refused."""
    assert load(VERTEX) == VERTEX.read_bytes() and load(str(VERTEX)) == VERTEX.read_bytes()
    payloads = [chunk(delta_choice(content="a")), chunk(delta_choice(content="b", finish="stop"))]
    jsonl = tmp_path / "two.jsonl"
    jsonl.write_text("\n".join(json.dumps(p) for p in payloads) + "\r\n\n")
    assert load(jsonl) == sse(*payloads)
    with httpx.Client(transport=ReplayTransport(jsonl, pieces="whole")) as client:
        assert client.post("http://replay/", json=BODY).content == sse(*payloads)
    jsonl.write_text(json.dumps(payloads[0]) + "\n[DONE]\n")
    assert load(jsonl) == sse(payloads[0])
    (tmp_path / "x.txt").write_text("data: {}\n\n")
    with pytest.raises(ValueError, match=r"\.sse file .* or a \.jsonl file"):
        load(tmp_path / "x.txt")
    for missing in ("missing.sse", "recordings", "missing.txt"):  # said as missing, whatever the suffix
        with pytest.raises(FileNotFoundError, match="no such file or folder"):
            load(tmp_path / missing)


# ---------------------------------------------------------------- the transport


def test_transport_arguments_are_checked() -> None:
    """Wrong arguments raise TypeError or ValueError naming what is wrong, before any request."""
    for kwargs, error, words in [
        ({"pieces": "words"}, ValueError, "pieces must be one of"),
        ({"pieces": 0}, ValueError, "size must be >= 1"),
        ({"pieces": True}, TypeError, "pieces"),
        ({"pieces": 2.5}, TypeError, "pieces"),
        ({"seed": "1"}, TypeError, "seed"),
        ({"status": 99}, ValueError, "status"),
        ({"status": True}, ValueError, "status"),
        ({"fault": "drop"}, TypeError, "fault"),
        ({"headers": {"x": 1}}, TypeError, "header"),
    ]:
        with pytest.raises(error, match=words):
            ReplayTransport(b"", **kwargs)
    with pytest.raises(TypeError, match="source"):
        ReplayTransport(42)  # type: ignore[arg-type]
    for fault, error in [
        (lambda: Drop(after=-1), ValueError),
        (lambda: Drop(after=1.5), TypeError),  # type: ignore[arg-type]
        (lambda: Stall(-1), ValueError),
        (lambda: Stall(float("inf")), ValueError),
        (lambda: Status(200), ValueError),
        (lambda: Status(500, object()), TypeError),
        (lambda: Status(500, headers=[1]), TypeError),
    ]:
        with pytest.raises(error):
            fault()
    assert Status(429, {"error": {}}, {"retry-after": "2"}) == Status(
        429, b'{"error": {}}', [("retry-after", "2")]
    )
    assert hash(Drop(after=3)) == hash(Drop(after=3))


@pytest.mark.parametrize(
    ("pieces", "check"),
    [
        ("whole", lambda ps, body: ps == [body]),
        ("lines", lambda ps, body: ps == body.splitlines(keepends=True)),
        ("bytes", lambda ps, body: all(len(p) == 1 for p in ps)),
        (7, lambda ps, body: {len(p) for p in ps[:-1]} == {7}),
        ("random", lambda ps, body: len({len(p) for p in ps}) > 3),
    ],
)
def test_pieces_cut_as_asked_and_assemble_the_same(
    pieces: Any, check: Callable[[list[bytes], bytes], bool]
) -> None:
    """Each pieces mode cuts the body as it says, the same way on every request, and the result never changes."""
    body = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()
    with httpx.Client(transport=ReplayTransport(body, pieces=pieces, seed=5)) as client:
        cuts = []
        for _ in range(2):
            with client.stream("POST", "http://replay/", json=BODY) as response:
                cuts.append(list(response.iter_raw()))
        assert cuts[0] == cuts[1] and b"".join(cuts[0]) == body and check(cuts[0], body)
        with stream_chat(client, "http://replay/", json=BODY, thought_tag="think") as stream:
            assert stream.until_done().model_dump(mode="json", exclude_none=True) == dumped(
                body, thought_tag="think"
            )
    with (
        httpx.Client(transport=ReplayTransport(body, seed=6)) as client,
        client.stream("POST", "http://replay/", json=BODY) as response,
    ):
        assert pieces != "random" or list(response.iter_raw()) != cuts[0]


@pytest.mark.parametrize("stream", STREAMS, ids=NAMES)
def test_openai_sdk_over_the_transport(stream: Path) -> None:
    """openai-python (sync and async) over ReplayTransport assembles each fixture as assemble() does."""
    transport = ReplayTransport(stream, seed=len(stream.name))
    got = sdk_outcomes(
        lambda: openai.OpenAI(api_key="x", max_retries=0, http_client=httpx.Client(transport=transport)),
        lambda: openai.AsyncOpenAI(
            api_key="x", max_retries=0, http_client=httpx.AsyncClient(transport=transport)
        ),
        "m",
        **options(stream),
    )
    check_sdk(stream.relative_to(FIXTURES).as_posix(), stream, got)


def test_transport_answers_json_without_stream_true() -> None:
    """A request without `"stream": true` gets the assembled chat.completion as JSON, as the SDK reads it."""
    body = VERTEX.read_bytes()
    transport = ReplayTransport(VERTEX, headers={"x-extra": "1"})
    with httpx.Client(transport=transport) as client:
        response = client.post("http://replay/", json={"model": "m", "messages": MESSAGES})
        assert response.headers["content-type"] == "application/json" and response.headers["x-extra"] == "1"
        assert response.json() == dumped(body)
        sse_answer = client.post("http://replay/", json=BODY)
        assert sse_answer.headers["content-type"] == "text/event-stream" and sse_answer.content == body
        assert client.post("http://replay/", content=b"not json").content == body
    with openai.OpenAI(api_key="x", http_client=httpx.Client(transport=transport)) as sdk:
        assert sdk.chat.completions.create(model="m", messages=MESSAGES).to_dict() == dumped(body)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_transport_faults_give_the_http_clients_errors(mode: str) -> None:
    """Drop -> IncompleteStreamError (RemoteProtocolError), Stall past the read timeout -> IncompleteStreamError
    (ReadTimeout), Status -> HTTPStatusError; a stall shorter than the timeout only delays."""
    timeout = httpx.Timeout(5.0, read=0.2)

    def run(transport: ReplayTransport) -> chunkwise.ChatCompletion:
        if mode == "sync":
            with httpx.Client(transport=transport, timeout=timeout) as client:
                return read(client)

        async def go() -> chunkwise.ChatCompletion:
            async with (
                httpx.AsyncClient(transport=transport, timeout=timeout) as client,
                astream_chat(client, "http://replay/", json=BODY) as stream,
            ):
                return await stream.until_done()

        return asyncio.run(go())

    for fault, cause in [
        (Drop(after=len(FIRST_TWO) + 20), httpx.RemoteProtocolError),
        (Stall(30, after=len(FIRST_TWO)), httpx.ReadTimeout),
    ]:
        started = time.monotonic()
        with pytest.raises(chunkwise.IncompleteStreamError) as info:
            run(ReplayTransport(TEXT, pieces="lines", fault=fault))
        assert isinstance(info.value.__cause__, cause) and time.monotonic() - started < 5
        assert info.value.partial is not None and info.value.partial.message.content == "Partial answer"
    assert (
        run(ReplayTransport(TEXT, fault=Stall(0.05, after=10))).message.content == "Partial answer, then more"
    )
    assert (
        run(ReplayTransport(TEXT, fault=Drop(after=len(TEXT)))).message.content == "Partial answer, then more"
    )
    status = Status(
        429,
        [{"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}],
        {"Retry-After": "7"},
    )
    with pytest.raises(chunkwise.HTTPStatusError) as error:
        run(ReplayTransport(TEXT, fault=status))
    assert (error.value.status_code, error.value.status, error.value.retry_after) == (
        429,
        "RESOURCE_EXHAUSTED",
        7.0,
    )
    with pytest.raises(chunkwise.HTTPStatusError) as plain:
        run(ReplayTransport(TEXT, fault=Status(503, "busy")))
    assert plain.value.body == "busy" and plain.value.status_code == 503


def test_a_status_fault_keeps_the_answers_own_headers() -> None:
    """`headers` are those of the answer, a Status fault's too (hostile review: they were dropped);
    where both name one, the fault's wins (its body is JSON, whatever the stream's type was)."""
    transport = ReplayTransport(
        TEXT,
        headers={"x-request-id": "abc", "retry-after": "3", "content-type": "text/event-stream"},
        fault=Status(503),
    )
    with httpx.Client(transport=transport) as client:
        answer = client.post("http://replay/", json=BODY)
    assert answer.status_code == 503
    assert (answer.headers["x-request-id"], answer.headers["retry-after"]) == ("abc", "3")
    assert answer.headers["content-type"] == "application/json"
    transport = ReplayTransport(
        TEXT, headers={"retry-after": "3"}, fault=Status(429, headers={"retry-after": "7"})
    )
    with httpx.Client(transport=transport) as client:
        assert client.post("http://replay/", json=BODY).headers.get_list("retry-after") == ["7"]


# ---------------------------------------------------------------- chunkwise serve


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    server = Served(str(FIXTURES), "--pieces", "random", "--seed", "3")
    yield server
    code, out, err = server.stop()
    assert (code, err) == (0, "") and all(" -> " in line for line in out.splitlines())


def sdk(base_url: str) -> tuple[Callable[[], openai.OpenAI], Callable[[], openai.AsyncOpenAI]]:
    return (
        lambda: openai.OpenAI(base_url=base_url, api_key="x", max_retries=0),
        lambda: openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0),
    )


@pytest.mark.parametrize("stream", STREAMS, ids=NAMES)
def test_openai_sdk_over_serve(served: Served, stream: Path) -> None:
    """openai-python (sync and async) against `chunkwise serve FOLDER`, the model naming the file, assembles each fixture."""
    name = stream.relative_to(FIXTURES).as_posix()
    got = sdk_outcomes(*sdk(served.url), name.removesuffix(".sse"), **options(stream))
    check_sdk(name, stream, got)


def test_serve_answers_json_without_stream_true(served: Served) -> None:
    """`stream: false` or no `stream` gets the assembled completion as JSON, through the SDK and plain httpx."""
    for stream in STREAMS:
        if stream.parent.name != "failures":
            with openai.OpenAI(base_url=served.url, api_key="x", max_retries=0) as client:
                answer = client.chat.completions.create(model=stream.stem, messages=MESSAGES, stream=False)
            assert answer.to_dict() == dumped(stream.read_bytes())
    response = httpx.post(f"{served.url}/chat/completions", json={"model": "truncated"})
    assert response.status_code == 500 and "IncompleteStreamError" in response.text
    with httpx.Client() as client, pytest.raises(chunkwise.HTTPStatusError) as info:
        read(client, {"model": "event-error"}, f"{served.url}/chat/completions")
    assert info.value.code == "tool_use_failed"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/projects/my-project/locations/us-central1/endpoints/openapi",
        "/v1beta1/projects/my-project/locations/global/endpoints/openapi",
        "/v1/projects/my-project/locations/europe-west4/endpoints/1234567890",
    ],
)
def test_vertex_routes_with_the_sdk(served: Served, path: str) -> None:
    """The SDK's base_url set to a Vertex AI OpenAI-compatible form (sync, async, non-streaming) reaches the recording."""
    base = served.url.removesuffix("/v1") + path
    expected = dumped(VERTEX.read_bytes())
    assert sdk_outcomes(*sdk(base), "vertex/parallel-tool-calls") == [("ok", expected)] * 2
    headers = {"x-chunkwise-fixture": "parallel-tool-calls"}
    with openai.OpenAI(base_url=base, api_key="x", max_retries=0, default_headers=headers) as client:
        answer = client.chat.completions.create(model="google/gemini-3-pro-preview", messages=MESSAGES)
    assert answer.to_dict() == expected


def test_serve_chooses_the_recording_or_says_which_exist(served: Served) -> None:
    """The header wins over the model; a name may drop its folder and suffix; a miss is a 404 naming the recordings."""
    url = f"{served.url}/chat/completions"
    with httpx.Client() as client:
        asked = client.post(
            url, json={"model": "truncated"}, headers={"x-chunkwise-fixture": "vertex/image-generation.sse"}
        )
        assert asked.json() == dumped((FIXTURES / "vertex" / "image-generation.sse").read_bytes())
        for body, headers, words in [
            ({"model": "gpt-4o"}, {}, "no recording matches model 'gpt-4o'"),
            ({"model": "m"}, {"x-chunkwise-fixture": "nope"}, "no recording is named 'nope'"),
        ]:
            missing = client.post(url, json=body, headers=headers)
            error = missing.json()["error"]
            assert missing.status_code == 404 and words in error["message"]
            assert "vertex/parallel-tool-calls.sse" in error["message"] and set(error["recordings"]) == set(
                NAMES
            )
        assert client.post(f"{served.url}/completions", json={}).status_code == 404
        assert client.get(url).status_code == 405
        assert client.post(url, content=b"{oops").status_code == 400


@pytest.mark.parametrize(
    ("fault", "error", "cause"),
    [
        (f"drop:{len(FIRST_TWO) + 20}", chunkwise.IncompleteStreamError, httpx.RemoteProtocolError),
        (f"stall:30:{len(FIRST_TWO)}", chunkwise.IncompleteStreamError, httpx.ReadTimeout),
        (
            'status:429:{"error": {"message": "slow down", "code": 429}}',
            chunkwise.HTTPStatusError,
            type(None),
        ),
    ],
)
def test_serve_faults_give_the_http_clients_errors(
    tmp_path: Path, fault: str, error: type[Exception], cause: type
) -> None:
    """Each --fault reaches chunkwise.http.stream_chat as the error its contract names."""
    path = tmp_path / "text.sse"
    path.write_bytes(TEXT)
    server = Served(str(path), "--pieces", "lines", "--fault", fault)
    try:
        with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as client, pytest.raises(error) as info:
            read(client, {"model": "anything", "stream": True}, f"{server.url}/chat/completions")
        assert isinstance(info.value.__cause__, cause)
        if error is chunkwise.IncompleteStreamError:
            assert info.value.partial.message.content == "Partial answer"  # type: ignore[attr-defined]
        else:
            assert info.value.status_code == 429 and info.value.message.endswith("slow down")  # type: ignore[attr-defined]
    finally:
        code, _, err = server.stop(signal.SIGINT)
    assert (code, err) == (0, "")


def test_two_concurrent_clients(tmp_path: Path) -> None:
    """A client that stops reading mid-stream does not hold up another; both finish, in parallel."""
    server = Served(str(VERTEX), "--pieces", "lines", "--delay-ms", "20")
    expected = dumped(VERTEX.read_bytes())
    url = f"{server.url}/chat/completions"
    try:
        with httpx.Client() as slow, httpx.Client() as fast:
            with slow.stream("POST", url, json=BODY) as held:
                raw = held.iter_raw()
                first = next(raw)  # then the slow client reads nothing for a while
                started = time.monotonic()
                assert read(fast, BODY, url).model_dump(mode="json", exclude_none=True) == expected
                alone = time.monotonic() - started
                rest = b"".join(raw)
            assert chunkwise.assemble(first + rest).model_dump(mode="json", exclude_none=True) == expected
        done: list[bool] = []
        clients = [httpx.Client(), httpx.Client()]  # built first: an SSL context takes tens of ms

        def one(client: httpx.Client) -> None:
            with client:
                done.append(read(client, BODY, url).model_dump(mode="json", exclude_none=True) == expected)

        begin = time.monotonic()
        threads = [threading.Thread(target=one, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert done == [True, True] and time.monotonic() - begin < 1.5 * alone  # one at a time: 2x
    finally:
        code, out, _ = server.stop()
    assert code == 0 and out.count(" -> 200 ") == 4


def test_serve_prints_the_base_url_then_a_line_per_request(tmp_path: Path) -> None:
    """The first stdout line is exactly the base URL; each request adds one line; SIGINT and SIGTERM exit 0 quietly."""
    for how in (signal.SIGINT, signal.SIGTERM):
        server = Served(str(VERTEX), "--pieces", "whole")
        with httpx.Client() as client:
            for _ in range(3):
                assert client.post(f"{server.url}/chat/completions", json=BODY).status_code == 200
        code, out, err = server.stop(how)
        lines = out.splitlines()
        assert (code, err) == (0, "") and len(lines) == 3
        assert all(
            line.startswith("POST /v1/chat/completions -> 200 parallel-tool-calls.sse stream")
            for line in lines
        )


def test_serve_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad path, --pieces, --fault or --port is exit 2 with one line naming it, before anything is served."""
    (tmp_path / "empty").mkdir()
    for args, words in [
        ([str(tmp_path / "missing.sse")], "cannot serve"),
        ([str(tmp_path / "empty")], "no .sse or .jsonl recordings"),
        ([str(VERTEX), "--pieces", "words"], "--pieces must be one of"),
        ([str(VERTEX), "--fault", "explode"], "--fault must be drop:AFTER"),
        ([str(VERTEX), "--fault", "status:200"], "code must be an int from 400 to 599"),
        ([str(VERTEX), "--port", "70000"], "--port must be from 0 to 65535"),
    ]:
        assert main(["serve", *args]) == 2
        out, err = capsys.readouterr()
        assert out == "" and words in err and err.count("\n") == 1


NO_HTTPX = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("httpx", "anyio"):
            raise ModuleNotFoundError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
from chunkwise import _serve
from chunkwise._cli import _parse_fault
pieces = list(_serve.steps(b"abcdef", 2, 0, _parse_fault("drop:3")))
assert pieces == [b"ab", b"c", _serve.Drop(after=3)], pieces
print("stdlib ok")
"""


def test_serve_needs_no_httpx() -> None:
    """`chunkwise serve` and its fault rules work with httpx and anyio unavailable (standard library only)."""
    proc = subprocess.run([sys.executable, "-c", NO_HTTPX], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "stdlib ok"


def test_steps_put_the_fault_where_it_strikes() -> None:
    """A fault strikes after exactly `after` bytes, cutting the piece it falls in; past the end it strikes last."""
    from chunkwise._serve import steps

    assert list(steps(b"abcdef", 2, 0, Stall(1, after=3))) == [b"ab", b"c", Stall(1, after=3), b"d", b"ef"]
    assert list(steps(b"abcdef", 2, 0, Drop(after=4))) == [b"ab", b"cd", Drop(after=4)]
    assert list(steps(b"abcdef", "whole", 0, Drop())) == [Drop()]
    assert list(steps(b"ab", "bytes", 0, Stall(1, after=9))) == [b"a", b"b", Stall(1, after=9)]
    assert list(steps(b"ab", "lines", 0, Status(500))) == [b"ab"]


def test_serve_answers_400_to_a_negative_chunk_size() -> None:
    """A chunked request body with a negative chunk size gets 400 at once, not a connection left hanging."""
    import socket

    server = Served(str(FIXTURES / "vertex" / "parallel-tool-calls.sse"))
    try:
        host, port = server.url.removeprefix("http://").removesuffix("/v1").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"-1\r\n{}\r\n0\r\n\r\n"
            )
            assert sock.recv(64).split(b" ")[1] == b"400"
    finally:
        server.stop()


def test_serve_takes_a_client_reset_quietly() -> None:
    """A client that resets its connection mid-request (SO_LINGER 0) is a log line, not a traceback.

    CI once failed on socketserver's traceback for a reset on a kept-alive connection: the server
    must treat a client leaving as the everyday event it is.
    """
    import socket
    import struct

    server = Served(str(FIXTURES / "vertex" / "parallel-tool-calls.sse"))
    try:
        host, port = server.url.removeprefix("http://").removesuffix("/v1").split(":")
        for partial in (b"POST /v1/chat/comp", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(partial)
            time.sleep(0.2)  # the server is now blocked reading the rest
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # linger 0: the close sends RST, so the server's read raises ConnectionResetError
        time.sleep(0.2)
        with httpx.Client() as client:  # and it still serves
            assert client.post(server.url + "/chat/completions", json={"stream": True}).status_code == 200
    finally:
        code, out, err = server.stop()
    assert (code, err) == (0, "")
    left = [line for line in out.splitlines() if "the client closed the connection" in line]
    assert len(left) == 2, out


def test_serve_stops_cleanly_in_a_burst_of_connections() -> None:
    """SIGTERM while connections keep arriving (some reset): exit 0, nothing on stderr. (A hostile
    review saw socketserver's traceback in 9 runs of 10: the stop raised KeyboardInterrupt inside
    `Thread.start`, and socketserver closed a socket its new handler thread was using.)"""
    import socket
    import struct

    for _ in range(10):
        server = Served(str(FIXTURES / "vertex" / "parallel-tool-calls.sse"))
        host, port = server.url.removeprefix("http://").removesuffix("/v1").split(":")
        for number in range(40):
            sock = socket.create_connection((host, int(port)), timeout=5)
            if number % 2:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        code, _, err = server.stop()  # at once: the server is still taking the connections
        assert (code, err) == (0, ""), err


def test_serve_answers_400_to_a_body_shorter_than_its_length() -> None:
    """A client that sends less than its Content-Length and stops sending gets 400, not a 200 for a
    request it never finished."""
    import socket

    server = Served(str(FIXTURES / "vertex" / "parallel-tool-calls.sse"))
    try:
        host, port = server.url.removeprefix("http://").removesuffix("/v1").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}")
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(64).split(b" ")[1] == b"400"
    finally:
        server.stop()


def test_serve_logs_a_line_the_terminal_cannot_encode() -> None:
    """A request path stdout's encoding cannot show is logged with escapes; logging goes on (it used
    to take the UnicodeEncodeError for "stdout went away" and stop logging for good)."""
    import io
    import types

    from chunkwise._serve import _Server

    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    holder = types.SimpleNamespace(lock=threading.Lock(), out=stream)
    _Server.log(holder, "POST /v1/chat/completions?q=\xe9 -> 404 no route")  # type: ignore[arg-type]
    _Server.log(holder, "POST /v1/chat/completions -> 200")  # type: ignore[arg-type]
    stream.flush()
    assert holder.out is stream
    assert stream.buffer.getvalue().decode().splitlines() == [  # type: ignore[attr-defined]
        "POST /v1/chat/completions?q=\\xe9 -> 404 no route",
        "POST /v1/chat/completions -> 200",
    ]


def test_serve_answers_what_http_server_refuses_in_json_with_a_log_line() -> None:
    """A request line it cannot read, an unsupported method, a bad HTTP version: JSON errors and one
    log line each, like every other answer (they were HTML and unlogged)."""
    import socket

    server = Served(str(FIXTURES / "vertex" / "parallel-tool-calls.sse"))
    answers = []
    try:
        host, port = server.url.removeprefix("http://").removesuffix("/v1").split(":")
        for request in (
            b"garbage\r\n\r\n",
            b"PUT /v1/x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
        ):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(request)
                reply = b""
                while chunk := sock.recv(4096):
                    reply += chunk
            head, _, data = reply.partition(b"\r\n\r\n")
            answers.append((head.split(b" ")[1], json.loads(data)["error"]["code"]))
    finally:
        code, out, err = server.stop()
    assert answers == [(b"400", 400), (b"501", 501), (b"505", 505)]
    assert (code, err) == (0, "")
    assert [line.split(" -> ")[1][:3] for line in out.splitlines()] == ["400", "501", "505"]
