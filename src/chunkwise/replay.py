"""Replay a recorded stream into any httpx-based client, with faults on demand.

``pip install "chunkwise[http]"``; ``import chunkwise`` never imports this module.

::

    transport = ReplayTransport("vertex.sse", pieces="random", seed=3, fault=Drop(after=500))
    client = openai.OpenAI(api_key="x", http_client=httpx.Client(transport=transport))

``ReplayTransport`` is both an ``httpx.BaseTransport`` and an ``httpx.AsyncBaseTransport``: every
request it handles, whatever its URL, gets the recording, cut into pieces the way ``pieces`` says,
with ``fault`` where it strikes. A request whose JSON body does not ask for ``"stream": true`` gets
the assembled ``chat.completion`` as JSON instead, as a real endpoint answers it. The rules it
shares with ``chunkwise serve`` (cutting, faults, the JSON answer) live in ``_serve``, which needs
no httpx; this module only carries them out the way httpx's own transports fail:

    Drop(after=N)            the body stops after N bytes: ``httpx.RemoteProtocolError`` ("peer
                             closed connection without sending complete message body")
    Stall(seconds, after=N)  after N bytes, nothing for ``seconds``; when the request's read timeout
                             is shorter, the transport waits that long and raises ``httpx.ReadTimeout``
    Status(code, body, headers)
                             the answer is that status and body, not the recording

``chunkwise.http.stream_chat`` turns the first two into ``IncompleteStreamError`` (the httpx error
as its ``__cause__``) and the third into ``HTTPStatusError``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator, Mapping

import anyio
import httpx

from ._serve import (
    PIECE_MODES,
    Drop,
    Fault,
    Pieces,
    Stall,
    Status,
    _pairs,
    load,
    reply,
    steps,
)

__all__ = ["Drop", "Fault", "Pieces", "ReplayTransport", "Stall", "Status", "load"]


class ReplayTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answer every request with one recording (sync and async clients alike).

    ``source`` is the recording's bytes, or the path of a ``.sse``/``.jsonl`` file (read once, by
    ``load``). ``pieces``: ``"whole"``, ``"lines"``, ``"bytes"``, an int size, or ``"random"``
    (sizes from 1 to 4096 bytes drawn from ``random.Random(seed)``, the same for every request).
    ``status`` and ``headers`` are those of the answer (``content-type: text/event-stream`` unless
    ``headers`` says otherwise); ``fault`` is ``Drop``, ``Stall``, ``Status`` or None. A request
    whose JSON body lacks ``"stream": true`` gets the assembled ``chat.completion`` as JSON.
    """

    def __init__(
        self,
        source: bytes | bytearray | memoryview | str | os.PathLike[str],
        *,
        pieces: Pieces = "random",
        seed: int = 0,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        fault: Fault | None = None,
    ) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.recording = bytes(source)
        elif isinstance(source, (str, os.PathLike)):
            self.recording = load(source)
        else:
            raise TypeError(f"source must be the recording's bytes or a path, not {type(source).__name__}")
        _check_options(pieces, seed, fault)
        if type(status) is not int or not 200 <= status <= 599:
            raise ValueError(f"status must be an int from 200 to 599, not {status!r}")
        self.pieces, self.seed, self.status, self.fault = pieces, seed, status, fault
        self.headers = _pairs("ReplayTransport", {} if headers is None else headers)

    def __repr__(self) -> str:
        return (
            f"ReplayTransport(<{len(self.recording)} bytes>, pieces={self.pieces!r}, seed={self.seed}, "
            f"status={self.status}, fault={self.fault!r})"
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._respond(request, request.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._respond(request, await request.aread())

    def _respond(self, request: httpx.Request, body: bytes) -> httpx.Response:
        answer = reply(self.recording, body, status=self.status, headers=self.headers, fault=self.fault)
        fault = None if isinstance(self.fault, Status) else self.fault
        stream = _Body(request, answer.body, self.pieces, self.seed, fault)
        return httpx.Response(answer.status, headers=list(answer.headers), stream=stream, request=request)


def _check_options(pieces: object, seed: object, fault: object) -> None:
    """Raise TypeError/ValueError naming the argument that is wrong."""
    if isinstance(pieces, str):
        if pieces not in PIECE_MODES:
            raise ValueError(f"pieces must be one of {', '.join(PIECE_MODES)} or a size, not {pieces!r}")
    elif type(pieces) is int:
        if pieces < 1:
            raise ValueError(f"pieces: a size must be >= 1, not {pieces}")
    else:
        raise TypeError(f"pieces must be one of {', '.join(PIECE_MODES)} or an int size, not {pieces!r}")
    if type(seed) is not int:
        raise TypeError(f"seed must be an int, not {seed!r}")
    if fault is not None and not isinstance(fault, (Drop, Stall, Status)):
        raise TypeError(f"fault must be Drop, Stall, Status or None, not {fault!r}")


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A reply's body as httpx reads it: the steps of ``_serve.steps``, carried out."""

    def __init__(self, request: httpx.Request, body: bytes, pieces: Pieces, seed: int, fault: Fault | None):
        self._request, self._body, self._pieces, self._seed, self._fault = request, body, pieces, seed, fault

    def __iter__(self) -> Iterator[bytes]:
        for step in steps(self._body, self._pieces, self._seed, self._fault):
            if isinstance(step, bytes):
                yield step
            elif isinstance(step, Stall):
                wait, timed_out = self._wait(step)
                time.sleep(wait)
                if timed_out:
                    raise self._timeout(step)
            else:
                raise self._dropped(step)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for step in steps(self._body, self._pieces, self._seed, self._fault):
            if isinstance(step, bytes):
                yield step
            elif isinstance(step, Stall):
                wait, timed_out = self._wait(step)
                await anyio.sleep(wait)  # asyncio or trio, whichever runs the client
                if timed_out:
                    raise self._timeout(step)
            else:
                raise self._dropped(step)

    def _wait(self, stall: Stall) -> tuple[float, bool]:
        """How long to wait, and whether the client's read timeout ends the wait (as a socket's would)."""
        timeout = self._request.extensions.get("timeout", {}).get("read")
        if timeout is not None and timeout < stall.seconds:
            return timeout, True
        return stall.seconds, False

    def _timeout(self, stall: Stall) -> httpx.ReadTimeout:
        return httpx.ReadTimeout(
            f"the replay stalled {stall.seconds} s after {stall.after} bytes, past the read timeout",
            request=self._request,
        )

    def _dropped(self, drop: Drop) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body (Drop after {drop.after} bytes)",
            request=self._request,
        )
