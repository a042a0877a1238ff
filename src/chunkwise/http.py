"""Stream a chat completion from any OpenAI-compatible endpoint over httpx, sync and async.

This is the only module of chunkwise that imports httpx (``pip install "chunkwise[http]"``);
``import chunkwise`` never imports it. It is a thin shell around ``StreamAssembler``: the twins
``stream_chat`` / ``astream_chat`` do the I/O and nothing else, and everything that is not I/O
(reading the status, the content type, an error body, ``Retry-After``, a whole JSON answer) is a
plain function below that both call.

::

    with stream_chat(client, url, json=body) as stream:      # POST, status checked on entry
        for event in stream:                                  # events as the bytes arrive
            ...
    completion = stream.completion                            # or stream.until_done()

The body is POSTed exactly as given: nothing adds ``"stream": true``. A server asked without it
answers with one JSON ``chat.completion``, which is read through the same model (see below), so
both requests give the same result; ask for a stream to see events as they are generated.

The bytes go to the assembler's own SSE decoder (``feed_bytes`` on ``response.iter_bytes()``), not
to httpx-sse's ``iter_sse()``: Vertex writes a raw JSON error body (``[{"error": {"code": 499,
...}}]``) outside SSE framing mid-stream, and ``iter_sse()`` drops lines that are not SSE fields,
so a cancelled stream would read as a short, successful one.

What the twins raise, and when::

    on entering the context, before any event
        HTTPStatusError        a non-2xx status (.status_code, .body, .code, .status, .message,
                               .headers, .retry_after); nothing of the stream exists yet
        ServerError            a 2xx JSON answer that is an error body
        MalformedChunkError    a 2xx answer that is neither text/event-stream nor a JSON
                               chat.completion (the message names the content type)
        IncompleteStreamError  the connection failed while a whole JSON answer was read
        httpx.HTTPError        the request could not be sent or no response arrived (connect
                               error, timeout before the headers): nothing was received
    while iterating, each with .partial and .events
        ServerError, MalformedChunkError, IncompleteStreamError
                               as StreamAssembler raises them
        IncompleteStreamError  the connection dropped, failed or timed out mid-stream; its
                               __cause__ is the httpx error, .partial everything received

Leaving the ``with`` block early (``break``, an exception, asyncio cancellation) closes the
response; ``stream.snapshot`` still gives what arrived, and ``stream.completion`` then raises
``AssemblerStateError`` with that snapshot as ``.partial``.

For openai-python users: ``from_openai`` / ``afrom_openai`` assemble what
``client.chat.completions.create(..., stream=True)`` yields, and ``to_openai`` turns a completion
into openai-python's ``ChatCompletion``.
"""

from __future__ import annotations

import email.utils
import inspect
import json
import math
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from contextlib import asynccontextmanager, contextmanager
from datetime import timezone
from typing import TYPE_CHECKING, Any

import httpx

from ._assembler import DEFAULT_MAX_LINE_LENGTH, State, StreamAssembler
from ._complete import checked_chunks
from ._errors import (
    AssemblerStateError,
    ChunkwiseError,
    HTTPStatusError,
    MalformedChunkError,
)
from ._events import Event
from ._google_auth import GoogleAuth, GoogleAuthError
from ._models import ChatCompletion
from ._payloads import Malformed, describe_error, is_error_body, loads, loads_or_none

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion as OpenAIChatCompletion

__all__ = [
    "AsyncChatStream",
    "ChatStream",
    "GoogleAuth",
    "GoogleAuthError",
    "afrom_openai",
    "astream_chat",
    "from_openai",
    "stream_chat",
    "to_openai",
]

#: What a failed read raises mid-body: the connection dropped (``RemoteProtocolError``: "peer closed
#: connection without sending complete message body"), a read error or timeout, or a compressed
#: body that stopped decoding. Each means no more bytes will come; what came is kept.
_READ_ERRORS = (httpx.TransportError, httpx.DecodingError)
#: An error body is only read for its message: the first MiB of it is plenty.
_ERROR_BODY_LIMIT = 1024 * 1024
#: Of an answer in some other type, only the start is kept (as the error's ``raw``, as the
#: assembler keeps at most about 8000 characters of a malformed payload).
_RAW_LIMIT = 8000


# ---------------------------------------------------------------- the streams


class _Stream:
    """What the twins share: the response, the assembler, the result, the early-exit rule."""

    def __init__(self, response: httpx.Response, assembler: StreamAssembler, chunks: list[Any] | None):
        #: The httpx response (status, headers) as it arrived.
        self.response = response
        self._assembler = assembler
        # A whole JSON answer, already converted to chunks; None for a stream (read from the response).
        self._chunks = chunks
        # An error the assembler did not raise itself (a failed read), kept for `completion`.
        self._error: ChunkwiseError | None = None
        self._left_early = False

    @property
    def snapshot(self) -> ChatCompletion:
        """The completion as assembled so far; still readable after the ``with`` block."""
        return self._assembler.snapshot

    @property
    def completion(self) -> ChatCompletion:
        """The finished completion. Raises the error that ended the stream, or
        ``AssemblerStateError`` (with the snapshot as ``.partial``) when it was not read to its end."""
        if self._error is not None:
            raise self._error
        if self._assembler.state is State.OPEN:
            raise AssemblerStateError(
                "the with block was left before the stream ended"
                if self._left_early
                else "the stream is still being read: iterate it to its end, or call until_done()",
                partial=self._assembler.snapshot,
            )
        return self._assembler.completion  # raises the assembler's own error if it failed

    def _read_failed(self, exc: Exception) -> ChunkwiseError:
        self._error = _incomplete(self._assembler, exc)
        return self._error


class ChatStream(_Stream):
    """A chat completion being streamed (``stream_chat``). Iterate it for the assembler's events.

    It is its own iterator, like a file: a loop left with ``break`` resumes where it stopped.
    """

    def __init__(self, response: httpx.Response, assembler: StreamAssembler, chunks: list[Any] | None):
        super().__init__(response, assembler, chunks)
        self._events = self._generate()

    def __iter__(self) -> Iterator[Event]:
        return self._events

    def until_done(self) -> ChatCompletion:
        """Read the rest of the stream and return the completion (raises as ``completion`` does)."""
        for _ in self._events:
            pass
        return self.completion

    def _generate(self) -> Generator[Event, None, None]:
        assembler = self._assembler
        try:
            if self._chunks is None:
                feed_bytes = assembler.feed_bytes
                for piece in self.response.iter_bytes():
                    yield from feed_bytes(piece)
            else:
                for chunk in self._chunks:
                    yield from assembler.feed(chunk)
        except _READ_ERRORS as exc:
            if not assembler.done_received:
                raise self._read_failed(exc) from exc
            # `[DONE]` arrived: the stream said it was whole before the connection failed.
        yield from assembler.close()

    def _leave(self) -> None:
        self._events.close()
        self._left_early = self._assembler.state is State.OPEN and self._error is None


class AsyncChatStream(_Stream):
    """A chat completion being streamed (``astream_chat``). ``async for`` it for the events.

    It is its own iterator: a loop left with ``break`` resumes where it stopped.
    """

    def __init__(self, response: httpx.Response, assembler: StreamAssembler, chunks: list[Any] | None):
        super().__init__(response, assembler, chunks)
        self._events = self._generate()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events

    async def until_done(self) -> ChatCompletion:
        """Read the rest of the stream and return the completion (raises as ``completion`` does)."""
        async for _ in self._events:
            pass
        return self.completion

    async def _generate(self) -> AsyncGenerator[Event, None]:
        assembler = self._assembler
        try:
            if self._chunks is None:
                feed_bytes = assembler.feed_bytes
                async for piece in self.response.aiter_bytes():
                    for event in feed_bytes(piece):
                        yield event
            else:
                for chunk in self._chunks:
                    for event in assembler.feed(chunk):
                        yield event
        except _READ_ERRORS as exc:
            if not assembler.done_received:
                raise self._read_failed(exc) from exc
            # `[DONE]` arrived: the stream said it was whole before the connection failed.
        for event in assembler.close():
            yield event

    async def _leave(self) -> None:
        await self._events.aclose()
        self._left_early = self._assembler.state is State.OPEN and self._error is None


# ---------------------------------------------------------------- the twins


@contextmanager
def stream_chat(
    client: httpx.Client,
    url: str | httpx.URL,
    *,
    json: Any,
    headers: Mapping[str, str] | None = None,
    thought_tag: str | None = None,
    **assembler_options: Any,
) -> Iterator[ChatStream]:
    """POST ``json`` to ``url`` and stream the answer into a ``ChatStream``.

    ``json`` is sent as given: add ``"stream": true`` yourself (a JSON answer is read too, with
    the same result). ``headers`` are copied, never changed. The thought tag is the one ``json``
    asks the server for (``extra_body.google.thought_tag_marker``, see
    ``StreamAssembler.for_request``); ``thought_tag`` is for a server that wraps thinking in tags
    unasked (DeepSeek-R1), and must agree with the body's. ``assembler_options`` go to
    ``StreamAssembler`` (``require_done``, ``emit_events=False`` when only the completion is
    wanted, the limits). Raises as the module docstring says.
    """
    assembler = StreamAssembler.for_request(json, thought_tag=thought_tag, **assembler_options)
    limit = _body_limit(assembler_options)
    with client.stream("POST", url, json=json, headers=_copy(headers)) as response:
        chunks = None
        if not _is_stream(response):
            body, cut, cap = bytearray(), None, _read_cap(response, limit)
            try:
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) >= cap:
                        break
            except _READ_ERRORS as exc:
                cut = exc
            chunks = _whole_answer(response, bytes(body), cut, assembler, limit)
        stream = ChatStream(response, assembler, chunks)
        try:
            yield stream
        finally:
            stream._leave()


@asynccontextmanager
async def astream_chat(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    *,
    json: Any,
    headers: Mapping[str, str] | None = None,
    thought_tag: str | None = None,
    **assembler_options: Any,
) -> AsyncIterator[AsyncChatStream]:
    """The async twin of ``stream_chat``: ``async with``, ``async for``, ``await until_done()``."""
    assembler = StreamAssembler.for_request(json, thought_tag=thought_tag, **assembler_options)
    limit = _body_limit(assembler_options)
    async with client.stream("POST", url, json=json, headers=_copy(headers)) as response:
        chunks = None
        if not _is_stream(response):
            body, cut, cap = bytearray(), None, _read_cap(response, limit)
            try:
                async for piece in response.aiter_bytes():
                    body += piece
                    if len(body) >= cap:
                        break
            except _READ_ERRORS as exc:
                cut = exc
            chunks = _whole_answer(response, bytes(body), cut, assembler, limit)
        stream = AsyncChatStream(response, assembler, chunks)
        try:
            yield stream
        finally:
            await stream._leave()


# ---------------------------------------------------------------- what the twins share (no I/O)


def _copy(headers: Mapping[str, str] | None) -> httpx.Headers | None:
    # httpx-sse writes Accept/Cache-Control into the caller's dict; we send a copy and add nothing.
    return None if headers is None else httpx.Headers(headers)


def _media_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).partition(";")[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _is_stream(response: httpx.Response) -> bool:
    """A 2xx SSE answer is read piece by piece; anything else is read whole first."""
    return response.is_success and _media_type(response) == "text/event-stream"


def _body_limit(options: Mapping[str, Any]) -> int:
    """A whole JSON answer is one payload: bounded by ``max_line_length`` like one SSE event."""
    limit = options.get("max_line_length", DEFAULT_MAX_LINE_LENGTH)
    return limit if type(limit) is int else DEFAULT_MAX_LINE_LENGTH


def _read_cap(response: httpx.Response, limit: int) -> int:
    """How much of a body that is read whole is worth reading: a JSON answer up to the limit (one
    byte past it shows it is too long), an error body's first MiB, 8000 bytes of anything else."""
    if not response.is_success:
        return _ERROR_BODY_LIMIT
    return limit + 1 if _is_json(_media_type(response)) else _RAW_LIMIT


def _whole_answer(
    response: httpx.Response, body: bytes, cut: Exception | None, assembler: StreamAssembler, limit: int
) -> list[dict[str, Any]]:
    """An answer that is not a 2xx SSE stream: its chunks, or the error it is.

    A non-2xx status is an ``HTTPStatusError``, whatever the body (a body cut by a failed read
    still gives the status). A 2xx ``application/json`` body holding a whole ``chat.completion``
    (a server that ignored ``stream: true``, or a request without it) becomes one chunk per choice,
    so it goes through the same rules as a stream; an error body is a ``ServerError``; anything
    else a ``MalformedChunkError`` naming the content type.
    """
    if not response.is_success:
        raise _status_error(response.status_code, response.headers, body) from cut
    media = _media_type(response) or "no content type"
    if not _is_json(media):
        raise _not_a_stream(f"the server answered {media}, not text/event-stream or JSON", body, assembler)
    if cut is not None:
        raise _incomplete(assembler, cut) from cut
    if len(body) > limit:
        raise _not_a_stream(f"the {media} answer is longer than max_line_length", body, assembler)
    try:
        value = loads(body.decode("utf-8"))
    except (UnicodeDecodeError, Malformed) as exc:
        raise _not_a_stream(f"the {media} answer is not JSON: {exc}", body, assembler) from None
    if is_error_body(value):
        assembler.feed(body)  # raises the assembler's own ServerError, with its event and the partial
    try:
        return checked_chunks(value)  # parse_completion's reading: the same checks, the same chunks
    except Malformed as exc:
        raise _not_a_stream(f"the {media} answer is not a chat.completion: {exc}", body, assembler) from None


def _not_a_stream(message: str, body: bytes, assembler: StreamAssembler) -> MalformedChunkError:
    return MalformedChunkError(
        message,
        position=1,
        raw=body[:_RAW_LIMIT].decode("utf-8", "replace"),
        partial=assembler.snapshot,
    )


def _status_error(status_code: int, headers: Mapping[str, str], body: bytes) -> HTTPStatusError:
    """The ``HTTPStatusError`` for an error status: its body parsed when it is JSON (Gemini's
    ``[{"error": {...}}]``, OpenAI's ``{"error": {...}}``), else kept as text."""
    text = body.decode("utf-8", "replace")
    parsed = loads_or_none(text)
    value: Any = parsed if parsed is not None else text
    code, status, message = describe_error(value)
    summary = f"HTTP {status_code}"
    if code is not None and code != status_code:
        summary += f" {code}"
    if status:
        summary += f" {status}"
    return HTTPStatusError(
        f"{summary}: {message}",
        status_code=status_code,
        body=value,
        code=code,
        status=status,
        headers=headers,
        retry_after=_retry_after(headers.get("retry-after"), time.time()),
    )


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3: seconds, or an HTTP date),
    counted from ``now`` (a Unix time) and never negative; None when absent or unreadable.

    Fractional seconds are accepted: the standard allows only digits, but some servers send them.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, origin unknown"
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    else:
        if not value[:1].isdigit():  # float() reads "nan", "inf", "-1", "+1"
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _incomplete(assembler: StreamAssembler, exc: Exception) -> ChunkwiseError:
    """The connection failed before the stream was whole (``StreamAssembler.interrupt``): the
    partial holds everything received, except a line the failure cut in two."""
    return assembler.interrupt(f"the connection failed before the stream ended ({type(exc).__name__}: {exc})")


# ---------------------------------------------------------------- openai-python


def from_openai(
    stream: Iterable[Any], *, thought_tag: str | None = None, **assembler_options: Any
) -> ChatCompletion:
    """Assemble what ``client.chat.completions.create(..., stream=True)`` yields (its
    ``ChatCompletionChunk`` objects, or any chunks ``StreamAssembler.feed`` takes) and close it.

    Raises what ``StreamAssembler`` raises, and, for the SDK's own failures while iterating:
    ``IncompleteStreamError`` for ``APIConnectionError``/``APITimeoutError`` (the connection failed),
    ``ServerError`` for ``APIError`` (an error payload in the stream), ``MalformedChunkError`` for a
    payload the SDK could not parse as JSON; each with ``.partial``, the SDK's error as ``__cause__``.
    The SDK swallows ``data: [DONE]``, so ``require_done`` cannot be met here and is refused.
    """
    try:
        assembler = _openai_assembler(thought_tag, assembler_options)
    except BaseException:
        _close_stream(stream)  # a bad option must not leave the response open
        raise
    try:
        for chunk in stream:
            assembler.feed(chunk)
    except ChunkwiseError:
        raise
    except Exception as exc:
        error = _from_sdk_error(assembler, exc)
        if error is None:
            raise
        raise error from exc
    finally:
        _close_stream(stream)
    assembler.close()
    return assembler.completion


def _close_stream(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        close()


async def _aclose_stream(stream: Any) -> None:
    close = getattr(stream, "close", None) or getattr(stream, "aclose", None)
    if callable(close):
        closed = close()
        if inspect.isawaitable(closed):
            await closed


async def afrom_openai(
    stream: AsyncIterable[Any], *, thought_tag: str | None = None, **assembler_options: Any
) -> ChatCompletion:
    """The async twin of ``from_openai`` (``client.chat.completions.create`` on ``AsyncOpenAI``)."""
    try:
        assembler = _openai_assembler(thought_tag, assembler_options)
    except BaseException:
        await _aclose_stream(stream)  # a bad option must not leave the response open
        raise
    try:
        async for chunk in stream:
            assembler.feed(chunk)
    except ChunkwiseError:
        raise
    except Exception as exc:
        error = _from_sdk_error(assembler, exc)
        if error is None:
            raise
        raise error from exc
    finally:
        await _aclose_stream(stream)
    assembler.close()
    return assembler.completion


def _openai_assembler(thought_tag: str | None, options: dict[str, Any]) -> StreamAssembler:
    if options.get("require_done"):
        raise ValueError("openai-python's stream never yields data: [DONE]; require_done cannot be met")
    return StreamAssembler(thought_tag=thought_tag, emit_events=False, **options)


def _from_sdk_error(assembler: StreamAssembler, exc: Exception) -> ChunkwiseError | None:
    """Our error for what the SDK raised mid-stream, or None when it is not a failure of the stream
    (a status error, a bug in the caller's code): that one propagates as it is."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError is one
        return _incomplete(assembler, exc)
    if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIStatusError):
        # The SDK raises APIError for a `data: {"error": {...}}` payload; its body is the inner
        # object. The assembler reads it back as the payload it was, for its own ServerError.
        payload: Any = {"error": exc.body if exc.body is not None else {"message": exc.message}}
    elif isinstance(exc, json.JSONDecodeError):
        payload = exc.doc  # the payload text: the assembler finds the same fault at the same offset
    else:
        return None
    try:
        assembler.feed(payload)
    except ChunkwiseError as error:
        return error
    return None  # pragma: no cover - both payloads always fail


def to_openai(completion: ChatCompletion) -> OpenAIChatCompletion:
    """The completion as openai-python's ``ChatCompletion`` (openai is imported only here).

    Built as the SDK builds the answer to a non-streaming ``create()`` (its ``construct``: nested
    models, no validation), from ``completion.model_dump(exclude_none=True)``, so fields the SDK does
    not name (``reasoning_content``, ``extra_content``, Azure's ``content_filter_results``) stay as
    its extras, a provider's own ``finish_reason`` is kept, and ``.to_dict()`` gives the same JSON.
    """
    from openai.types.chat import ChatCompletion as OpenAIChatCompletion

    return OpenAIChatCompletion.construct(**completion.model_dump(mode="json", exclude_none=True))
