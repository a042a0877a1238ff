"""The public surface, the event records, and the core's dependency promise."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

import chunkwise


def test_public_names_are_pinned() -> None:
    """Changing the public surface is a decision, made here."""
    assert sorted(chunkwise.__all__) == sorted(
        [
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
    )
    for name in chunkwise.__all__:
        assert hasattr(chunkwise, name)
    # The names load on first use (PEP 562): listed by dir(), and a typo is still an AttributeError.
    assert set(chunkwise.__all__) <= set(dir(chunkwise))
    with pytest.raises(AttributeError, match="no attribute 'StreamAssembly'"):
        _ = chunkwise.StreamAssembly  # type: ignore[attr-defined]


def test_events_are_frozen_slotted_keyword_only() -> None:
    """Events are small immutable records, built whole."""
    for event_type in typing.get_args(chunkwise.Event):
        params = event_type.__dataclass_params__
        assert params.frozen and hasattr(event_type, "__slots__")
        assert all(f.kw_only for f in dataclasses.fields(event_type))
    event = chunkwise.ContentDelta(choice=0, delta="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.delta = "y"  # type: ignore[misc]


def test_one_exception_tree() -> None:
    """Every error we raise is a ChunkwiseError."""
    for error in (
        chunkwise.ServerError,
        chunkwise.IncompleteStreamError,
        chunkwise.MalformedChunkError,
        chunkwise.AssemblerStateError,
        chunkwise.OutputParseError,
    ):
        assert issubclass(error, chunkwise.ChunkwiseError)


BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("httpx", "httpx_sse", "hypothesis"):
            raise ModuleNotFoundError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Block())
import chunkwise
assert chunkwise.assemble(b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\\n\\n').message.content == "ok"
assert not any(m.split(".")[0] in ("httpx", "httpx_sse", "hypothesis") for m in sys.modules)
try:
    import chunkwise.strategies
except ModuleNotFoundError:
    print("core-only ok")
"""


def test_import_needs_only_pydantic() -> None:
    """`import chunkwise` works with httpx, httpx-sse and hypothesis unavailable; strategies needs hypothesis."""
    proc = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "core-only ok"


def test_assembler_states() -> None:
    """OPEN until close(); CLOSED after a complete stream; reading the completion early is an error."""
    assembler = chunkwise.StreamAssembler()
    assert assembler.state is chunkwise.State.OPEN
    with pytest.raises(chunkwise.AssemblerStateError):
        _ = assembler.completion
    assembler.feed({"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}]})
    assembler.close()
    assert assembler.state is chunkwise.State.CLOSED
    with pytest.raises(chunkwise.AssemblerStateError):
        assembler.feed({"choices": []})
    assert assembler.completion is assembler.completion


class Mine(chunkwise.ChunkwiseError):
    """A user's error: positional fields, no `message`."""

    def __init__(self, a: int, b: int) -> None:
        Exception.__init__(self, a, b)


def test_errors_pickle_whole() -> None:
    """Errors cross processes (pytest-xdist, multiprocessing): every class pickles with its fields,
    its partial and its events. (The keyword-only constructors made pickle's `cls(*args)` fail.)"""
    import pickle

    assembler = chunkwise.StreamAssembler()
    assembler.feed({"choices": [{"index": 0, "delta": {"content": "so far"}}]})
    with pytest.raises(chunkwise.MalformedChunkError) as caught:
        assembler.feed_bytes(b"data: {not json}\n\n")
    errors: list[chunkwise.ChunkwiseError] = [
        caught.value,
        chunkwise.ServerError("boom", body={"error": {"code": 500}}),
        chunkwise.HTTPStatusError("bad", status_code=503, body="busy", retry_after=2.0),
        chunkwise.IncompleteStreamError("cut"),
        chunkwise.AssemblerStateError("closed"),
        chunkwise.GoogleAuthError("no token"),
        chunkwise.ChunkwiseError("base"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and copy.args == error.args
        assert vars(copy) == vars(error)
    # A user's subclass that sets its own args (or never sets `message`) pickles as it would from
    # Exception.
    mine = pickle.loads(pickle.dumps(Mine(1, 2)))
    assert type(mine) is Mine and mine.args == (1, 2) and str(mine) == "(1, 2)"
    assert caught.value.partial is not None
    restored = pickle.loads(pickle.dumps(caught.value))
    assert restored.partial == caught.value.partial and restored.position == 2
