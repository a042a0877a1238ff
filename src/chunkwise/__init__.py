"""chunkwise: streamed OpenAI-compatible chat completions in, finished and correct messages out.

The core is sans-IO and needs only pydantic::

    assembler = chunkwise.StreamAssembler(thought_tag="think")
    for piece in response_bytes:
        for event in assembler.feed_bytes(piece):
            ...
    assembler.close()
    completion = assembler.completion

A non-streaming answer goes through the same rules: ``chunkwise.parse_completion(body)``.

Optional integrations live in their own modules, which this package never imports:
``chunkwise.http`` (httpx) and ``chunkwise.strategies`` (hypothesis).
"""

from ._archive import replay_file
from ._assembler import State, StreamAssembler, assemble
from ._complete import parse_completion
from ._errors import (
    AssemblerStateError,
    ChunkwiseError,
    GoogleAuthError,
    HTTPStatusError,
    IncompleteStreamError,
    MalformedChunkError,
    OutputParseError,
    ServerError,
)
from ._events import (
    ChoiceFinished,
    ContentDelta,
    ContentDone,
    Event,
    FunctionCallArgumentsDelta,
    FunctionCallDone,
    FunctionCallStarted,
    ReasoningDelta,
    ReasoningDone,
    RefusalDelta,
    RefusalDone,
    ServerErrorReceived,
    StreamEnded,
    ToolCallArgumentsDelta,
    ToolCallDone,
    ToolCallStarted,
    UsageReported,
)
from ._models import (
    Audio,
    ChatCompletion,
    Choice,
    ChoiceLogprobs,
    CustomCall,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)
from ._split import split_responses
from ._sse import ServerSentEvent, SSEDecoder, StrayText

__version__ = "0.1.0"

__all__ = [
    "AssemblerStateError",
    "Audio",
    "ChatCompletion",
    "Choice",
    "ChoiceFinished",
    "ChoiceLogprobs",
    "ChunkwiseError",
    "ContentDelta",
    "ContentDone",
    "CustomCall",
    "Event",
    "FunctionCall",
    "FunctionCallArgumentsDelta",
    "FunctionCallDone",
    "FunctionCallStarted",
    "GoogleAuthError",
    "HTTPStatusError",
    "IncompleteStreamError",
    "MalformedChunkError",
    "Message",
    "OutputParseError",
    "ReasoningDelta",
    "ReasoningDone",
    "RefusalDelta",
    "RefusalDone",
    "SSEDecoder",
    "ServerError",
    "ServerErrorReceived",
    "ServerSentEvent",
    "State",
    "StrayText",
    "StreamAssembler",
    "StreamEnded",
    "ToolCall",
    "ToolCallArgumentsDelta",
    "ToolCallDone",
    "ToolCallStarted",
    "Usage",
    "UsageReported",
    "__version__",
    "assemble",
    "parse_completion",
    "replay_file",
    "split_responses",
]
