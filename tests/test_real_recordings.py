"""The real recordings in ../shared/fixtures/real (read in place, never copied here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import chunkwise
from chunkwise._cli import main

from helpers import shared_dir

SHARED = shared_dir()
if SHARED is None:
    if os.environ.get("CHUNKWISE_SHARED"):
        raise RuntimeError(f"CHUNKWISE_SHARED={os.environ['CHUNKWISE_SHARED']} is not a directory")
    pytest.skip("../shared is not beside this checkout (CI always provides it)", allow_module_level=True)
REAL = SHARED / "fixtures" / "real"
RECORDINGS = sorted(REAL.rglob("*.sse"))

# The outcome each recording must have; every other recording completes (exit 0).
FAILING = {
    "groq/gpt-oss-120b-tool-choice-required-event-error.sse": 3,
    "groq/gpt-oss-120b-tool-use-failed-event-error.sse": 3,
    "openrouter/minimax-m2-error-in-final-chunk.sse": 3,
    "snowflake/cortex-claude-sonnet-4.6-reasoning-details.sse": 4,
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
