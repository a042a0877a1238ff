"""chunkwise.http end to end over loopback, against the floor and against openai-python, one process.

    python3 -m pip install -e ".[dev]" && python3 benchmarks/http_bench.py [--rounds N] [--chunks N]

A server written here (a thread, raw sockets) answers every POST with the same SSE body: N text
chunks in OpenAI's shape, then usage and ``[DONE]``, in chunked transfer encoding, framed two ways:

* ``per event``: each SSE event its own HTTP chunk, as a server that flushes per token writes it
  (OpenAI, vLLM). The client's HTTP stack then does its per-chunk work once per SSE event: in
  httpx (h11, httpcore, the response's iterators) that is most of the floor's time;
* ``16 KiB``: HTTP chunks of 16 KiB cut anywhere, as a buffering proxy passes a stream on. Here
  the HTTP work per SSE event nearly vanishes and reading the events is most of the time.

The whole answer is built before timing and sent with one ``sendall``, so the server costs next
to nothing while the client reads.

Contenders, in rounds, in a rotating order (the machine's speed drifts; each round pairs them):

* floor: httpx ``iter_bytes()``, split on blank lines, ``json.loads`` of each ``data:`` payload;
  no assembly, no events, nothing kept. What any client must at least do;
* ``stream_chat``: iterating the events, then ``completion``; ``until_done()`` (events built and
  dropped); ``until_done()`` with ``emit_events=False`` (the cheapest way to a completion);
* openai-python: ``chat.completions.create(stream=True)`` iterated to the end (its
  ``ChatCompletionChunk`` objects, nothing assembled), and the same through ``from_openai``.

``us/chunk`` is the best round over N chunks; ``x floor`` the median over rounds of the ratio to the
floor's run in the same round. Peak memory is tracemalloc's peak during one more run of each,
apart from the timed ones (tracemalloc slows Python down).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import socket
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import httpx
import openai

import chunkwise
from chunkwise.http import from_openai, stream_chat
from run import cpu_name  # benchmarks/run.py: this folder is on sys.path when run as a script

MESSAGES: Any = [{"role": "user", "content": "Count."}]
BODY = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}


# ---------------------------------------------------------------- the answer and the server


def sse_body(n: int) -> tuple[bytes, str]:
    """An SSE body of ``n`` text chunks (plus opening, finish and usage chunks) and its full text."""
    envelope = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1770850461,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_eb9dce56a8",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **envelope,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    words = [f"tok{i % 97} " for i in range(n)]
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": w}) for w in words]
    chunks.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": n + 10}
    chunks.append({**envelope, "choices": [], "usage": usage})
    payloads = [json.dumps(c, separators=(",", ":")) for c in chunks] + ["[DONE]"]
    return b"".join(f"data: {p}\n\n".encode() for p in payloads), "".join(words)


def http_answer(body: bytes, piece: int | None) -> bytes:
    """The whole HTTP/1.1 answer: one chunk of chunked encoding per SSE event, or per ``piece`` bytes."""
    if piece is None:
        pieces = [event + b"\n\n" for event in body.split(b"\n\n")[:-1]]
    else:
        pieces = [body[i : i + piece] for i in range(0, len(body), piece)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    return head + framed + b"0\r\n\r\n"


class Server:
    """Answers every POST on a kept-alive connection with the same bytes, one thread per connection."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                try:
                    conn.sendall(self.answer)
                except OSError:
                    return


# ---------------------------------------------------------------- contenders


def floor(ctx: Context) -> Any:
    """httpx iter_bytes, split on blank lines, json.loads per payload: the least any client does."""
    loads = json.loads
    last = None
    rest = b""
    with ctx.httpx.stream("POST", ctx.url, json=BODY) as response:
        for piece in response.iter_bytes():
            *events, rest = (rest + piece).split(b"\n\n")
            for event in events:
                payload = event[6:]  # "data: "
                if payload != b"[DONE]":
                    last = loads(payload)
    return last


def cw_events(ctx: Context) -> Any:
    with stream_chat(ctx.httpx, ctx.url, json=BODY) as stream:
        for _ in stream:
            pass
    return stream.completion


def cw_until_done(ctx: Context) -> Any:
    with stream_chat(ctx.httpx, ctx.url, json=BODY) as stream:
        return stream.until_done()


def cw_no_events(ctx: Context) -> Any:
    with stream_chat(ctx.httpx, ctx.url, json=BODY, emit_events=False) as stream:
        return stream.until_done()


def sdk_stream(ctx: Context) -> Any:
    last = None
    for chunk in ctx.openai.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
        last = chunk
    return last


def sdk_from_openai(ctx: Context) -> Any:
    return from_openai(ctx.openai.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))


CONTENDERS: list[tuple[str, Callable[[Context], Any]]] = [
    ("floor: httpx iter_bytes + split + json.loads", floor),
    ("stream_chat, iterate events", cw_events),
    ("stream_chat, until_done()", cw_until_done),
    ("stream_chat, until_done(), emit_events=False", cw_no_events),
    ("openai-python stream (chunks only)", sdk_stream),
    ("openai-python stream + from_openai", sdk_from_openai),
]


class Context:
    def __init__(self, url: str) -> None:
        self.url = url
        self.httpx = httpx.Client()
        self.openai = openai.OpenAI(base_url=url, api_key="x", max_retries=0)


def check(label: str, result: Any, text: str) -> None:
    """Every contender must have read the whole answer."""
    if isinstance(result, chunkwise.ChatCompletion):
        assert result.message.content == text and result.usage is not None, label
    elif isinstance(result, dict):
        assert result["usage"]["completion_tokens"] == len(text.split()), label
    else:
        assert result.usage.completion_tokens == len(text.split()), label


# ---------------------------------------------------------------- measuring


def timed(fn: Callable[[Context], Any], ctx: Context) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn(ctx)
    return time.perf_counter() - start, result


def peak(fn: Callable[[Context], Any], ctx: Context) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn(ctx)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def machine() -> str:
    cpu = cpu_name()
    names = ("httpx", "h11", "pydantic", "openai")
    versions = ", ".join(f"{name} {version(name)}" for name in names)
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}, chunkwise {chunkwise.__version__}, {versions}"
    )


FRAMINGS: list[tuple[str, int | None]] = [("per event", None), ("16 KiB", 16 * 1024)]


def measure(
    ctx: Context, rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, int]]:
    """Seconds per run and ratio to the floor's run in the same round, per contender; peak memory."""
    times: dict[str, list[float]] = {label: [] for label, _ in CONTENDERS}
    ratios: dict[str, list[float]] = {label: [] for label, _ in CONTENDERS}
    for round_ in range(rounds):
        shift = round_ % len(CONTENDERS)
        this_round = {label: timed(fn, ctx)[0] for label, fn in CONTENDERS[shift:] + CONTENDERS[:shift]}
        for label, seconds in this_round.items():
            times[label].append(seconds)
            ratios[label].append(seconds / this_round[CONTENDERS[0][0]])
    memory = {label: peak(fn, ctx) for label, fn in CONTENDERS}
    return times, ratios, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=10_000)
    args = parser.parse_args()

    body, text = sse_body(args.chunks)
    chunks = args.chunks + 3  # the opening, finish and usage chunks
    print(
        f"{args.chunks} text chunks ({len(body) / 2**20:.1f} MiB of SSE) over loopback, {args.rounds} rounds."
    )
    print(f"Machine: {machine()}.\n")
    print("| HTTP chunks | contender | us/chunk (best) | us/chunk (median) | x floor (median) | peak MiB |")
    print("|---|---|---:|---:|---:|---:|")
    versus_sdk = []
    for framing, piece in FRAMINGS:
        ctx = Context(Server(http_answer(body, piece)).url)
        for label, fn in CONTENDERS:  # warm up (connections, imports) and check each answer
            check(label, fn(ctx), text)
        times, ratios, memory = measure(ctx, args.rounds)
        for label, _ in CONTENDERS:
            best = min(times[label]) / chunks * 1e6
            median = statistics.median(times[label]) / chunks * 1e6
            ratio = statistics.median(ratios[label])
            mib = memory[label] / 2**20
            print(f"| {framing} | {label} | {best:.2f} | {median:.2f} | {ratio:.2f} | {mib:.1f} |")
        sdk = statistics.median(ratios["openai-python stream (chunks only)"])
        ours = statistics.median(ratios["stream_chat, iterate events"])
        versus_sdk.append(f"{framing}: {sdk / ours:.1f}x")
    print(
        f"\nopenai-python's stream over stream_chat iterating events (median ratios): {', '.join(versus_sdk)}"
    )


if __name__ == "__main__":
    main()
