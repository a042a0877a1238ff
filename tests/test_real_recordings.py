"""The real recordings in ../shared/fixtures/real (read in place, never copied here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import chunkwise
from chunkwise._cli import main

from helpers import real_recordings

REAL = real_recordings()
RECORDINGS = sorted(REAL.rglob("*.sse"))

# The outcome each recording must have; every other recording completes (exit 0).
FAILING = {
    "groq/gpt-oss-120b-tool-choice-required-event-error.sse": 3,
    "groq/gpt-oss-120b-tool-use-failed-event-error.sse": 3,
    "openrouter/minimax-m2-error-in-final-chunk.sse": 3,
    "snowflake/cortex-claude-sonnet-4.6-reasoning-details.sse": 4,
    # Two whole responses back to back: content for a finished choice fails as malformed (§11).
    "cerebras/zai-glm-4.7-structured-tools.sse": 5,
}


def load(name: str, **options: object) -> chunkwise.ChatCompletion:
    return chunkwise.assemble((REAL / name).read_bytes(), **options)  # type: ignore[arg-type]


def test_recordings_present() -> None:
    """The shared set holds the recordings this file names."""
    assert len(RECORDINGS) >= 50
    names = {p.relative_to(REAL).as_posix() for p in RECORDINGS}
    assert set(FAILING) <= names


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.relative_to(REAL).as_posix())
def test_replay_every_recording(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One JSON object on stdout, the expected exit code, no traceback, for every real recording."""
    code = main(["replay", "--json", str(path)])
    out, err = capsys.readouterr()
    assert isinstance(json.loads(out), dict)
    assert code == FAILING.get(path.relative_to(REAL).as_posix(), 0), err
    assert "Traceback" not in err


def test_deepseek_r1_think_tags_split() -> None:
    """Together's DeepSeek-R1 puts `<think>...</think>` inside content."""
    message = load("together/deepseek-r1-think-tags-in-content.sse", thought_tag="think").message
    assert message.reasoning_content and "<think>" not in (message.content or "")
    assert isinstance(message.content, str) and "</think>" not in message.content


def test_groq_usage_twice_keeps_last() -> None:
    """Groq sends usage twice (x_groq and top level); the last one counts, not the sum."""
    completion = load("groq/kimi-k2-parallel-tools-usage-twice.sse")
    assert completion.usage is not None and completion.usage.total_tokens == 259
    assert len(completion.message.tool_calls or []) == 2


def test_openai_n3_and_n2_tool_calls() -> None:
    """OpenAI n > 1: three interleaved choices; n = 2 with a tool call in each choice."""
    assert [c.index for c in load("openai/gpt-4o-n3-choices.sse").choices] == [0, 1, 2]
    choices = load("openai/gpt-3.5-turbo-n2-tool-calls.sse").choices
    assert [len(c.message.tool_calls or []) for c in choices] == [1, 1]
    assert all(c.message.tool_calls and c.message.tool_calls[0].parsed_arguments is not None for c in choices)


def test_gemini_signatures_behind_openrouter_kept_for_next_turn() -> None:
    """Behind OpenRouter, Gemini signatures are `reasoning.encrypted` entries, sent back with the message."""
    completion = load("gemini/openrouter-gemini-3-pro-thinking-signature-tool.sse")
    details = completion.to_request_message()["reasoning_details"]
    assert any(d.get("type") == "reasoning.encrypted" and d.get("data") for d in details)


def test_minimax_error_chunk_keeps_usage() -> None:
    """OpenRouter's error chunk also carries usage: the ServerError's partial keeps it."""
    with pytest.raises(chunkwise.ServerError) as info:
        load("openrouter/minimax-m2-error-in-final-chunk.sse")
    assert info.value.code == 400
    assert info.value.partial is not None and info.value.partial.usage is not None
    assert info.value.partial.usage.total_tokens == 53


def test_mistral_content_parts() -> None:
    """Magistral streams thinking and text as typed content parts."""
    message = load("mistral/magistral-medium-thinking-content-array.sse").message
    assert message.content == "2 + 2 = 4"
    assert message.reasoning_content == "The user is asking for 2+2. This is basic arithmetic. 2+2=4."


def test_cerebras_two_responses_are_not_merged_into_one() -> None:
    """The Cerebras log holds two responses back to back: the first is the partial, never merged with the second."""
    with pytest.raises(chunkwise.MalformedChunkError) as info:
        load("cerebras/zai-glm-4.7-structured-tools.sse")
    partial = info.value.partial
    assert partial is not None and partial.choices[0].finish_reason == "tool_calls"
    assert partial.id == "chatcmpl-9e97f9ca-9626-4ef8-8543-6e3ee7cef659"
    assert len(partial.message.tool_calls or []) == 1
    assert "already finished" in info.value.message and "chatcmpl-f4bd7eab" in info.value.raw


def test_openrouter_restated_finish_brings_the_next_parallel_call() -> None:
    """OpenRouter (Gemini 3) restates `finish_reason` on the chunk that brings the second parallel call:
    both calls are kept, and the events stay consistent (the late call starts, then is done)."""
    assembler = chunkwise.StreamAssembler()
    events = assembler.feed_bytes(
        (REAL / "gemini/openrouter-gemini-3-pro-parallel-tools-2025-11.sse").read_bytes()
    )
    events += assembler.close()
    calls = assembler.completion.message.tool_calls or []
    assert [c.function and c.function.name for c in calls] == ["add", "multiply"]
    started = [e.call for e in events if isinstance(e, chunkwise.ToolCallStarted)]
    done = [e for e in events if isinstance(e, chunkwise.ToolCallDone)]
    assert started == [0, 1] and [e.call for e in done] == [0, 1]
    assert [e.parsed for e in done] == [{"a": 2, "b": 3}, {"a": 2, "b": 3}]
    order = [
        type(e).__name__ for e in events if isinstance(e, (chunkwise.ToolCallStarted, chunkwise.ToolCallDone))
    ]
    assert order == ["ToolCallStarted", "ToolCallDone", "ToolCallStarted", "ToolCallDone"]
