"""Chunks that arrive as other libraries' objects: openai-python's ChatCompletionChunk, httpx-sse's ServerSentEvent."""

from __future__ import annotations

import httpx
import httpx_sse
from openai.types.chat import ChatCompletionChunk

import chunkwise

from helpers import FIXTURES

VERTEX = FIXTURES / "vertex" / "parallel-tool-calls.sse"


def test_openai_chat_completion_chunk_objects() -> None:
    """openai-python's own chunk objects (as its stream yields them) assemble like the raw payloads."""
    lines = [line[6:] for line in VERTEX.read_text().splitlines() if line.startswith("data: {")]
    objects = [ChatCompletionChunk.model_validate_json(line) for line in lines]
    from_objects = chunkwise.assemble(objects)
    assert from_objects.model_dump(exclude_none=True) == chunkwise.assemble(VERTEX.read_bytes()).model_dump(
        exclude_none=True
    )
    assert [c.thought_signature for c in from_objects.message.tool_calls or []] == ["...", None]


def test_httpx_sse_events() -> None:
    """Events read by httpx-sse from an httpx response feed straight in, `[DONE]` included."""
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=VERTEX.read_bytes()
        )
    )
    assembler = chunkwise.StreamAssembler()
    with (
        httpx.Client(transport=transport) as client,
        httpx_sse.connect_sse(client, "POST", "https://example.invalid/chat/completions") as source,
    ):
        for event in source.iter_sse():
            assembler.feed(event)
    assembler.close()
    assert assembler.completion.done_received
    assert len(assembler.completion.message.tool_calls or []) == 2
