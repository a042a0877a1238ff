"""The one exception tree of chunkwise.

    ChunkwiseError                 base: catch this to catch everything we raise
     ├── ServerError               the server reported an error inside the stream (its fault)
     │    └── HTTPStatusError      ... or answered with an error status before any byte of it
     ├── IncompleteStreamError     the stream ended before every choice finished (its fault, or the network's)
     ├── MalformedChunkError       a payload that is not a valid chunk (its fault)
     ├── AssemblerStateError       the assembler was used after it failed or closed (the caller's fault)
     └── OutputParseError          a finished answer is not the structured output asked for (the model's)

Every error raised while a stream is being assembled carries what was received so far:
``partial`` is the completion assembled up to the failure (a ``ChatCompletion``), and ``events``
holds the events the failing call produced before it failed, so a caller that catches the error
loses nothing. No other exception type leaves ``StreamAssembler.feed``/``feed_bytes``/``close``:
anything else would be a bug in chunkwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._events import Event
    from ._models import ChatCompletion

__all__ = [
    "AssemblerStateError",
    "ChunkwiseError",
    "GoogleAuthError",
    "HTTPStatusError",
    "IncompleteStreamError",
    "MalformedChunkError",
    "OutputParseError",
    "ServerError",
]


class ChunkwiseError(Exception):
    """Base of every exception chunkwise raises."""

    def __init__(
        self,
        message: str,
        *,
        partial: ChatCompletion | None = None,
        events: Sequence[Event] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The completion assembled from everything received before the failure.
        self.partial = partial
        #: Events the failing call produced before it raised (already applied to ``partial``).
        self.events: list[Event] = list(events)

    def __reduce__(self) -> tuple[Any, ...]:
        # An exception pickles as `cls(*args)`, and ours take their fields by keyword: rebuild it
        # from the message and restore every attribute (errors cross processes: pytest-xdist,
        # multiprocessing, concurrent.futures).
        return (_restore, (type(self), self.args), self.__dict__)


def _restore(cls: type[ChunkwiseError], args: tuple[Any, ...]) -> ChunkwiseError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    return error


class ServerError(ChunkwiseError):
    """The server reported an error in the stream.

    Seen as an ``event: error`` frame (Groq), a ``data: {"error": {...}}`` payload (OpenRouter), or a
    raw JSON line outside SSE framing (Vertex writes ``[{"error": {"code": 499, ...}}]`` mid-stream).
    """

    def __init__(
        self,
        message: str,
        *,
        body: Any,
        code: Any = None,
        status: str | None = None,
        partial: ChatCompletion | None = None,
        events: Sequence[Event] = (),
    ) -> None:
        super().__init__(message, partial=partial, events=events)
        #: The error as the server sent it (parsed JSON where it was JSON, else the raw text).
        self.body = body
        #: The server's code (``499``, ``"tool_use_failed"``, ...) when it sent one.
        self.code = code
        #: The server's status string (``"CANCELLED"``) when it sent one.
        self.status = status


class HTTPStatusError(ServerError):
    """The server answered with an error status (``chunkwise.http``), before any event.

    ``status_code`` is the HTTP status; ``body`` the parsed JSON body, or its text; ``code``,
    ``status`` and ``message`` come from the body (Gemini sends ``[{"error": {"code", "message",
    "status"}}]``, OpenAI ``{"error": {"message", "type", "code"}}``), ``message`` falling back to the
    body's text; ``headers`` are the response headers (lower-case names); ``retry_after`` is the
    ``Retry-After`` header in seconds (from seconds or an HTTP date), else None.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any,
        code: Any = None,
        status: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, body=body, code=code, status=status)
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})
        self.retry_after = retry_after


class IncompleteStreamError(ChunkwiseError):
    """The stream ended before it was complete.

    Complete means: at least one choice appeared and every choice that appeared has a
    ``finish_reason`` (and, when the assembler was asked to require it, ``[DONE]`` arrived).
    ``unfinished_choices`` lists the choice indexes that never finished.
    """

    def __init__(
        self,
        message: str,
        *,
        unfinished_choices: Sequence[int] = (),
        done_received: bool = False,
        partial: ChatCompletion | None = None,
        events: Sequence[Event] = (),
    ) -> None:
        super().__init__(message, partial=partial, events=events)
        self.unfinished_choices = list(unfinished_choices)
        self.done_received = done_received


class MalformedChunkError(ChunkwiseError):
    """A payload could not be read as a chunk: invalid JSON, invalid UTF-8, or the wrong shape.

    ``position`` is the 1-based number of the payload in the stream (the first ``data:`` payload,
    or the first chunk fed, is 1); ``raw`` is its text (at most about 8000 characters of it);
    ``offset`` is the character offset of a JSON syntax error inside ``raw`` when there is one.
    Also raised when input breaks one of ``StreamAssembler``'s limits, and for text, thinking, a
    call or audio that arrives for a choice that already finished (docs/behaviour.md §11).
    ``items``: from ``SSEDecoder.flush`` only, the items the end of input completed before the fault.
    """

    def __init__(
        self,
        message: str,
        *,
        position: int,
        raw: str,
        offset: int | None = None,
        partial: ChatCompletion | None = None,
        events: Sequence[Event] = (),
    ) -> None:
        super().__init__(message, partial=partial, events=events)
        self.position = position
        self.raw = raw
        self.offset = offset
        #: ``SSEDecoder.flush`` only: the items the end of input completed before the fault.
        self.items: list[Any] = []


class AssemblerStateError(ChunkwiseError):
    """The assembler was fed after it failed or was closed.

    ``cause`` is the error that ended the stream, if one did.
    """

    def __init__(
        self,
        message: str,
        *,
        cause: ChunkwiseError | None = None,
        partial: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.cause = cause


class GoogleAuthError(ChunkwiseError):
    """``chunkwise.http.GoogleAuth`` could have no token: the variable is unset, or the command is
    missing, failed, timed out or printed something that is not one token. The caller's setup is at
    fault, not the server; no request was sent."""


class OutputParseError(ChunkwiseError):
    """``Message.parse`` / ``ToolCall.parse_arguments`` could not give the model asked for.

    ``reason`` says why, most telling first:

    * ``"refusal"``: the model refused (``refusal`` holds its text); there is no answer to parse.
    * ``"length"`` / ``"content_filter"``: the answer was cut by that ``finish_reason``, so its JSON
      is incomplete or withheld even where it happens to parse (openai-python raises
      ``LengthFinishReasonError`` / ``ContentFilterFinishReasonError`` for the same two).
    * ``"empty"``: there is no text to parse (no content, or a custom call's free-form input).
    * ``"invalid"``: the text is not JSON, or not valid for the model; ``validation_error`` is
      pydantic's ``ValidationError`` (``.errors()`` lists each failure), or None when pydantic took
      the text but it holds ``NaN`` or ``Infinity``, which are not JSON (the message says so).

    ``text`` is what was parsed (the content or the arguments), when there was any; ``partial`` is
    None: the answer itself is whole.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: Literal["refusal", "length", "content_filter", "empty", "invalid"],
        text: str | None = None,
        finish_reason: str | None = None,
        refusal: str | None = None,
        validation_error: Exception | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.text = text
        self.finish_reason = finish_reason
        self.refusal = refusal
        #: pydantic's ``ValidationError`` when ``reason`` is ``"invalid"`` (None for NaN/Infinity).
        self.validation_error = validation_error
