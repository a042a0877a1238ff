"""What happened in a stream, as small frozen records.

Each event is fully built when it is emitted and never changes afterwards. Don't subclass them:
``Event`` is a closed union meant for exhaustive ``match`` statements. ``choice`` is the choice
index the server sent (``n > 1`` streams interleave choices); ``call`` is the tool call's position
in that choice's ``tool_calls`` list (first-seen order), which is stable even when the server's
own ``index`` for the call changes (Vertex does this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ChoiceFinished",
    "ContentDelta",
    "ContentDone",
    "Event",
    "FunctionCallArgumentsDelta",
    "FunctionCallDone",
    "FunctionCallStarted",
    "ReasoningDelta",
    "ReasoningDone",
    "RefusalDelta",
    "RefusalDone",
    "ServerErrorReceived",
    "StreamEnded",
    "ToolCallArgumentsDelta",
    "ToolCallDone",
    "ToolCallStarted",
    "UsageReported",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentDelta:
    """Answer text arrived (thinking already split out)."""

    choice: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentDone:
    """The choice finished; ``content`` is its whole answer text."""

    choice: int
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningDelta:
    """Thinking text arrived: ``delta.reasoning_content``/``delta.reasoning``, or tagged content."""

    choice: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningDone:
    """The choice finished; ``reasoning`` is its whole thinking text.

    ``unterminated`` is true when a ``<tag>`` thinking block was still open at the end.
    """

    choice: int
    reasoning: str
    unterminated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalDelta:
    """Refusal text arrived (``delta.refusal``)."""

    choice: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalDone:
    """The choice finished; ``refusal`` is its whole refusal text."""

    choice: int
    refusal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallStarted:
    """A new tool call appeared; ``id``/``name`` are what its first fragment carried.

    ``call_type`` is ``"function"``, or ``"custom"`` for a custom tool call (free-form ``input``).
    """

    choice: int
    call: int
    id: str | None
    name: str | None
    call_type: str = "function"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallArgumentsDelta:
    """A fragment of a tool call's arguments (a custom call's ``input``) arrived."""

    choice: int
    call: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallDone:
    """The choice finished, so this call is complete.

    ``arguments`` is the text exactly as received; ``parsed`` the JSON value when it parses,
    and ``error`` the reason when it does not (then ``parsed`` is None). A custom call's
    ``arguments`` is its free-form ``input``: never judged as JSON (``parsed`` and ``error`` None).
    ``has_thought_signature`` says what the call carried when its choice finished.
    """

    choice: int
    call: int
    id: str | None
    name: str | None
    arguments: str
    parsed: Any
    error: str | None
    has_thought_signature: bool
    call_type: str = "function"


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallStarted:
    """The legacy ``delta.function_call`` (pre-tools API) began; ``name`` as its first delta carried it."""

    choice: int
    name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallArgumentsDelta:
    """A fragment of the legacy ``function_call``'s arguments arrived."""

    choice: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallDone:
    """The choice finished; the legacy ``function_call`` whole, as ``ToolCallDone`` reports a call."""

    choice: int
    name: str | None
    arguments: str
    parsed: Any
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceFinished:
    """The server sent the choice's ``finish_reason``."""

    choice: int
    finish_reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageReported:
    """A usage object arrived; the last one seen is the one the completion keeps."""

    usage: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerErrorReceived:
    """The server reported an error. Always the last event of a call that then raises ``ServerError``."""

    body: Any
    code: Any
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEnded:
    """``close()`` was called. ``complete`` is false when it then raises ``IncompleteStreamError``."""

    complete: bool
    done_received: bool


Event = (
    ContentDelta
    | ContentDone
    | ReasoningDelta
    | ReasoningDone
    | RefusalDelta
    | RefusalDone
    | ToolCallStarted
    | ToolCallArgumentsDelta
    | ToolCallDone
    | FunctionCallStarted
    | FunctionCallArgumentsDelta
    | FunctionCallDone
    | ChoiceFinished
    | UsageReported
    | ServerErrorReceived
    | StreamEnded
)


# The assembler emits one delta event per chunk, so their construction is on the hot path. A
# frozen dataclass's generated __init__ routes every field through object.__setattr__, which costs
# about as much as the rest of a chunk's assembly. These factories build the very same objects by
# writing the slots directly (equal, hashable, immutable afterwards, like any other instance).
_new = object.__new__
_set_content_choice = vars(ContentDelta)["choice"].__set__
_set_content_delta = vars(ContentDelta)["delta"].__set__
_set_reasoning_choice = vars(ReasoningDelta)["choice"].__set__
_set_reasoning_delta = vars(ReasoningDelta)["delta"].__set__
_set_arguments_choice = vars(ToolCallArgumentsDelta)["choice"].__set__
_set_arguments_call = vars(ToolCallArgumentsDelta)["call"].__set__
_set_arguments_delta = vars(ToolCallArgumentsDelta)["delta"].__set__


def content_delta(choice: int, delta: str) -> ContentDelta:
    event: ContentDelta = _new(ContentDelta)
    _set_content_choice(event, choice)
    _set_content_delta(event, delta)
    return event


def reasoning_delta(choice: int, delta: str) -> ReasoningDelta:
    event: ReasoningDelta = _new(ReasoningDelta)
    _set_reasoning_choice(event, choice)
    _set_reasoning_delta(event, delta)
    return event


def arguments_delta(choice: int, call: int, delta: str) -> ToolCallArgumentsDelta:
    event: ToolCallArgumentsDelta = _new(ToolCallArgumentsDelta)
    _set_arguments_choice(event, choice)
    _set_arguments_call(event, call)
    _set_arguments_delta(event, delta)
    return event
