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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each public name, and the module that defines it. The modules are imported on first use (PEP 562),
# so that `import chunkwise.pytest_plugin` (which pytest does in every session, wherever chunkwise is
# installed) does not load the core and pydantic with it.
_WHERE = {
    "AssemblerStateError": "._errors",
    "Audio": "._models",
    "ChatCompletion": "._models",
    "Choice": "._models",
    "ChoiceFinished": "._events",
    "ChoiceLogprobs": "._models",
    "ChunkwiseError": "._errors",
    "ContentDelta": "._events",
    "ContentDone": "._events",
    "CustomCall": "._models",
    "Event": "._events",
    "FunctionCall": "._models",
    "FunctionCallArgumentsDelta": "._events",
    "FunctionCallDone": "._events",
    "FunctionCallStarted": "._events",
    "GoogleAuthError": "._errors",
    "HTTPStatusError": "._errors",
    "IncompleteStreamError": "._errors",
    "MalformedChunkError": "._errors",
    "Message": "._models",
    "OutputParseError": "._errors",
    "ReasoningDelta": "._events",
    "ReasoningDone": "._events",
    "RefusalDelta": "._events",
    "RefusalDone": "._events",
    "SSEDecoder": "._sse",
    "ServerError": "._errors",
    "ServerErrorReceived": "._events",
    "ServerSentEvent": "._sse",
    "State": "._assembler",
    "StrayText": "._sse",
    "StreamAssembler": "._assembler",
    "StreamEnded": "._events",
    "ToolCall": "._models",
    "ToolCallArgumentsDelta": "._events",
    "ToolCallDone": "._events",
    "ToolCallStarted": "._events",
    "Usage": "._models",
    "UsageReported": "._events",
    "assemble": "._assembler",
    "parse_completion": "._complete",
    "replay_file": "._archive",
    "split_responses": "._split",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'chunkwise' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # found once: later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
