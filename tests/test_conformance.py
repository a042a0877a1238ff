"""Conformance on every real recording (issue 12, part 3): chunkwise's result against an independent
reading of the same bytes (``_reference.py``), the same however the bytes are cut, and told the
same by the events.

For each recording in ``fixtures/real`` of the shared directory: the outcome is the one ``OUTCOMES``
names; content, thinking and refusal are the concatenation of every fragment; tool-call arguments
are JSON; usage is the last one sent; unknown fields are kept; byte cuts change nothing; and the
deltas of the events add up to the result. A recording that fails does so with a partial that
obeys the same text rules up to what was received.
"""

from __future__ import annotations

import functools
import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

import _reference as ref
import chunkwise
from chunkwise import (
    ChoiceFinished,
    ContentDelta,
    ContentDone,
    IncompleteStreamError,
    MalformedChunkError,
    ReasoningDelta,
    RefusalDelta,
    ServerError,
    ServerErrorReceived,
    StreamEnded,
    ToolCallArgumentsDelta,
    ToolCallStarted,
)

from helpers import cut_at, real_recordings

REAL = real_recordings()

# Imported once the shared directory is known to exist: test_real_recordings reads it on import.
from test_properties import _assert_events_tell_the_completion, _normalise  # noqa: E402
from test_real_recordings import FAILING  # noqa: E402

NAMES = sorted(p.relative_to(REAL).as_posix() for p in REAL.rglob("*.sse"))

# The outcome of every recording: None completes; otherwise the error `assemble()` raises.
# `test_real_recordings.FAILING` holds the same facts as exit codes; a test keeps the two equal.
OUTCOMES: dict[str, type[chunkwise.ChunkwiseError] | None] = {
    "azure/gpt-4o-mini-content-filter.sse": None,
    "azure/gpt-5-mini-tool.sse": None,
    "azure/gpt-5-nano-model-router.sse": None,
    "azure/gpt-5.2-protected-material-latency.sse": None,
    # Two whole responses back to back: the first chunk of the second is late content (§11.2).
    "cerebras/zai-glm-4.7-structured-tools.sse": MalformedChunkError,
    "deepseek/deepseek-reasoner-reasoning-content.sse": None,
    "deepseek/deepseek-reasoner-tool-call.sse": None,
    "deepseek/deepseek-v4-pro-reasoning-content.sse": None,
    "gemini/openrouter-gemini-2.0-flash-vertex-parallel-one-chunk.sse": None,
    "gemini/openrouter-gemini-2.5-flash-aistudio-parallel-one-chunk.sse": None,
    "gemini/openrouter-gemini-2.5-flash-tool.sse": None,
    "gemini/openrouter-gemini-3-pro-parallel-tools-2025-11.sse": None,
    "gemini/openrouter-gemini-3-pro-parallel-tools-thinking.sse": None,
    "gemini/openrouter-gemini-3-pro-text-thinking-signature.sse": None,
    "gemini/openrouter-gemini-3-pro-thinking-after-tool-result.sse": None,
    "gemini/openrouter-gemini-3-pro-thinking-signature-tool.sse": None,
    "gemini/openrouter-gemini-3-pro-thinking-tool-2025-11.sse": None,
    "gemini/openrouter-gemini-3.1-flash-lite-parallel-tools.sse": None,
    "gemini/openrouter-gemini-3.1-flash-lite-text-signature.sse": None,
    "gemini/vercel-gateway-gemini-2.5-flash-parallel-tools.sse": None,
    "gemini/vercel-gateway-gemini-3-pro-parallel-tools.sse": None,
    "gemini/vercel-gateway-gemini-3-pro-text-signature.sse": None,
    "gemini/vercel-gateway-gemini-3-pro-thinking-after-tool-result.sse": None,
    "gemini/vercel-gateway-gemini-3-pro-thinking-signature-tool.sse": None,
    "gemini-api/ag-ui-rust-gemini-2.5-flash-lite-parallel-tools-one-frame.sse": None,
    "gemini-api/ag-ui-rust-gemini-2.5-flash-lite-text.sse": None,
    "gemini-api/ag-ui-rust-gemini-3.1-flash-lite-parallel-tools-signed-stop.sse": None,
    "gemini-api/dcode-gemini-2.5-flash-tool-call-finish-usage-single-frame.sse": None,
    "gemini-api/fungraph-gemini-2.0-flash-tool-call-empty-id.sse": None,
    # `event: error` after the thinking began (§1.6 a).
    "groq/gpt-oss-120b-tool-choice-required-event-error.sse": ServerError,
    "groq/gpt-oss-120b-tool-use-failed-event-error.sse": ServerError,
    "groq/kimi-k2-parallel-tools-usage-twice.sse": None,
    "groq/llama-3.3-70b-tool-call-x_groq.sse": None,
    "groq/qwen3-32b-reasoning.sse": None,
    "huggingface/novita-llama-3.1-8b-sla-metrics.sse": None,
    "llamacpp/gpt-oss-20b-reasoning-tool.sse": None,
    "mistral/magistral-medium-thinking-content-array.sse": None,
    "mistral/mistral-small-thinking-closed-padding.sse": None,
    "mistral/mistral-small-tool-call.sse": None,
    "moonshot/kimi-k2.5-via-avian-parallel-tools-reasoning.sse": None,
    "openai/gpt-3.5-turbo-n2-tool-calls.sse": None,
    "openai/gpt-4o-content-logprobs.sse": None,
    "openai/gpt-4o-max-tokens-length.sse": None,
    "openai/gpt-4o-mini-parallel-tools.sse": None,
    "openai/gpt-4o-n3-choices.sse": None,
    "openai/gpt-4o-parallel-tool-calls.sse": None,
    "openai/gpt-4o-refusal-logprobs.sse": None,
    "openai/gpt-4o-refusal.sse": None,
    "openai/gpt-4o-strict-tool.sse": None,
    "openai/gpt-5-moderation-chunk.sse": None,
    "openai/gpt-5-nano-length-reasoning-only.sse": None,
    "openrouter/claude-sonnet-4.5-reasoning.sse": None,
    "openrouter/grok-4-fallback-encrypted-reasoning.sse": None,
    "openrouter/grok-4.1-fast-reasoning-summary-parallel-tools.sse": None,
    # An `error` field on the chunk that also carries usage (§1.6 b).
    "openrouter/minimax-m2-error-in-final-chunk.sse": ServerError,
    "perplexity/sonar-citations.sse": None,
    "qwen/qwen3-max-reasoning.sse": None,
    "qwen/qwen3-max-tool-call.sse": None,
    # Snowflake Cortex never sends a finish_reason (§9.2).
    "snowflake/cortex-claude-sonnet-4.6-reasoning-details.sse": IncompleteStreamError,
    "together/deepseek-r1-think-tags-in-content.sse": None,
    "xai/grok-3-mini-reasoning-tool-call.sse": None,
    "xai/grok-4-fast-parallel-tools-whole.sse": None,
    "zai/glm-4.7-reasoning-content.sse": None,
}

# The CLI's exit code for each error class (`chunkwise replay`), as FAILING states it.
EXIT_CODES: dict[type[chunkwise.ChunkwiseError], int] = {
    ServerError: 3,
    IncompleteStreamError: 4,
    MalformedChunkError: 5,
}

# Tool-call arguments a provider sent as invalid JSON, by recording (none so far); arguments cut by
# a `length` finish need no entry (§5.10).
INVALID_ARGUMENTS: dict[str, str] = {}

# Why test_properties' oracle cannot take a recording's events as they are. The summed deltas are
# still checked for these (`_assert_deltas_add_up`), the reason is checked to hold, and the oracle
# to still fail, so an entry cannot outlive its reason.
LATE_CALL = (
    "§11.3: OpenRouter restates `finish_reason` on the chunk that brings the second parallel call;"
    " that call's ToolCallStarted/ArgumentsDelta/Done come after ChoiceFinished, by design"
)
EVENTS_BEYOND_THE_ORACLE: dict[str, str] = {
    "gemini/openrouter-gemini-3-pro-parallel-tools-2025-11.sse": LATE_CALL,
}

# A file of at most this many bytes is also fed one byte at a time; every file gets CUT_SETS sets of
# random cuts, seeded by its name.
BYTEWISE_LIMIT = 40_000
CUT_SETS = 20


@dataclass
class Run:
    """What one assembly gave: the completion (or the error's partial), the error, all events."""

    completion: chunkwise.ChatCompletion
    error: chunkwise.ChunkwiseError | None
    events: list[chunkwise.Event]

    def dump(self) -> dict[str, Any]:
        return self.completion.model_dump()

    def fingerprint(self) -> tuple[Any, ...]:
        """Everything a cut must not change: outcome, error details, the result dumped."""
        error = self.error
        details = None if error is None else (type(error), error.message, getattr(error, "position", None))
        return details, self.dump(), self.completion.done_received, self.completion.replaced_characters


def _run(pieces: list[bytes]) -> Run:
    """Feed ``pieces`` to ``feed_bytes`` and close; only chunkwise's own errors are caught, so any
    other exception fails the calling test."""
    assembler = chunkwise.StreamAssembler()
    events: list[chunkwise.Event] = []
    failure: chunkwise.ChunkwiseError | None = None
    try:
        for piece in pieces:
            events += assembler.feed_bytes(piece)
        events += assembler.close()
    except chunkwise.ChunkwiseError as error:
        failure = error
    if failure is None:
        return Run(assembler.completion, None, events)
    assert failure.partial is not None, "an error raised during a stream carries the partial"
    return Run(failure.partial, failure, events + failure.events)


@functools.cache
def _body(name: str) -> bytes:
    return (REAL / name).read_bytes()


@functools.cache
def _whole(name: str) -> Run:
    """The recording fed in one piece."""
    return _run([_body(name)])


def _received(name: str, run: Run) -> list[Any]:
    """The payloads chunkwise merged before its outcome: all of them, except for a malformed
    chunk, which is refused whole and ends the reading (§11.2): the payloads before it."""
    payloads = ref.payloads(_body(name))
    if isinstance(run.error, MalformedChunkError):
        assert json.loads(run.error.raw) == payloads[run.error.position - 1], "position names the raw"
        return payloads[: run.error.position - 1]
    return payloads


def _cuts(name: str, size: int) -> list[list[int]]:
    """CUT_SETS sets of cut points, from a few to many, reproducible from the file's name."""
    rng = random.Random(name)
    return [
        sorted(rng.sample(range(1, size), min(size - 1, rng.choice((1, 3, 10, 50, 300)))))
        for _ in range(CUT_SETS)
    ]


def _usage_as_sent(usage: chunkwise.Usage, sent: dict[str, Any]) -> dict[str, Any]:
    """The result's usage with the named counts it defaults to None left out unless the server sent them."""
    return {key: value for key, value in usage.model_dump().items() if key in sent or value is not None}


recording = pytest.mark.parametrize("name", NAMES)


def test_every_recording_has_an_outcome_and_agrees_with_the_replay_table() -> None:
    """OUTCOMES names every recording in the shared set, and says what FAILING says in exit codes."""
    assert len(NAMES) >= 50
    assert sorted(OUTCOMES) == NAMES
    assert {name: EXIT_CODES[kind] for name, kind in OUTCOMES.items() if kind is not None} == FAILING
    assert set(INVALID_ARGUMENTS) <= set(NAMES)
    assert set(EVENTS_BEYOND_THE_ORACLE) <= set(NAMES)


@recording
def test_outcome_and_text_are_the_concatenation_of_every_fragment(name: str) -> None:
    """The expected outcome, and per choice: content, thinking and refusal as the reference
    concatenates them, the first finish_reason, and the last usage (of what was received)."""
    run = _whole(name)
    assert (type(run.error) if run.error else None) is OUTCOMES[name], run.error
    reading = ref.read(_received(name, run))
    assert [choice.index for choice in run.completion.choices] == sorted(reading.choices)
    for choice in run.completion.choices:
        message = choice.message
        assert message.content == reading.text(choice.index, "content"), f"choice {choice.index} content"
        assert message.reasoning_content == reading.text(choice.index, "reasoning"), f"choice {choice.index}"
        assert message.refusal == reading.text(choice.index, "refusal"), f"choice {choice.index} refusal"
        assert choice.finish_reason == reading.choices[choice.index].finish_reason
    if reading.usage is None:
        assert run.completion.usage is None
    else:
        assert run.completion.usage is not None
        assert _usage_as_sent(run.completion.usage, reading.usage) == reading.usage


@recording
def test_tool_call_arguments_are_json_unless_cut_by_length(name: str) -> None:
    """Each call's arguments parse as JSON (checked here with json.loads, and as chunkwise reports
    it), unless a `length` finish cut them; names and ids are ones the server sent, never doubled;
    and the calls hold every argument fragment, no more."""
    run = _whole(name)
    reading = ref.read(_received(name, run))
    for choice in run.completion.choices:
        calls = choice.message.tool_calls or []
        sent = reading.choices[choice.index]
        assert Counter("".join(c.function.arguments for c in calls if c.function)) == Counter(
            "".join(sent.arguments)
        )
        for call in calls:
            assert call.function is not None, "no recording has a custom call"
            assert call.function.name in sent.names and call.id in sent.ids | {None}
            if choice.finish_reason == "length" or name in INVALID_ARGUMENTS:
                continue
            json.loads(call.function.arguments)
            assert call.arguments_error is None


@recording
def test_unknown_fields_are_kept(name: str) -> None:
    """Every key the reference sees and chunkwise does not name is in the dump at its level
    (envelope, choice, delta); `obfuscation` is dropped (§2.4, §10.4)."""
    run = _whole(name)
    reading = ref.read(_received(name, run))
    dump = run.dump()
    assert reading.envelope_keys - ref.KNOWN_ENVELOPE - {ref.DROPPED} <= set(dump)
    assert ref.DROPPED not in dump
    for choice in dump["choices"]:
        sent = reading.choices[choice["index"]]
        assert sent.choice_keys - ref.KNOWN_CHOICE - {ref.DROPPED} <= set(choice)
        assert sent.delta_keys - ref.KNOWN_DELTA - {ref.DROPPED} <= set(choice["message"])
        assert ref.DROPPED not in choice and ref.DROPPED not in choice["message"]


@recording
def test_byte_cuts_change_nothing(name: str) -> None:
    """Fed one byte at a time (files up to BYTEWISE_LIMIT bytes) and at CUT_SETS random cut sets,
    the outcome, the result and the events (adjacent deltas merged) are those of the whole body."""
    body = _body(name)
    whole = _whole(name)
    expected = (whole.fingerprint(), _normalise(whole.events))
    cut_sets = _cuts(name, len(body))
    if len(body) <= BYTEWISE_LIMIT:
        cut_sets.append(list(range(1, len(body))))
    for points in cut_sets:
        run = _run(cut_at(body, points))
        assert (run.fingerprint(), _normalise(run.events)) == expected, f"{len(points)} cuts"


@recording
def test_events_add_up_to_the_result(name: str) -> None:
    """Text deltas, refusal deltas and each call's argument deltas, summed, are the final fields;
    for a complete stream also the done events, finishes, call order and usage (test_properties'
    oracle), except where EVENTS_BEYOND_THE_ORACLE says why not."""
    run = _whole(name)
    _assert_deltas_add_up(run)
    if run.error is not None:
        if isinstance(run.error, ServerError):
            assert isinstance(run.events[-1], ServerErrorReceived)
        if isinstance(run.error, IncompleteStreamError):
            assert run.events[-1] == StreamEnded(complete=False, done_received=run.completion.done_received)
        return
    assert [e for e in run.events if isinstance(e, StreamEnded)] == [run.events[-1]]
    assert run.events[-1] == StreamEnded(complete=True, done_received=ref.has_done(_body(name)))
    # The oracle expects [DONE]; whether it came was checked just above.
    events = [*run.events[:-1], StreamEnded(complete=True, done_received=True)]
    completion = run.completion.model_dump(exclude_none=True)
    for choice in completion["choices"]:
        for call in choice["message"].get("tool_calls", []):
            # Generated streams always name an id; the Gemini API may send none (`"id": ""`).
            call.setdefault("id", None)
    sent = ref.read(_received(name, run)).usage
    if sent is not None:
        # UsageReported carries usage as sent, nulls included (the dump leaves them out).
        completion["usage"] = sent
    if name not in EVENTS_BEYOND_THE_ORACLE:
        _assert_events_tell_the_completion(events, completion)
        return
    with pytest.raises(AssertionError):
        _assert_events_tell_the_completion(events, completion)
    finished = next(i for i, e in enumerate(run.events) if isinstance(e, ChoiceFinished))
    if EVENTS_BEYOND_THE_ORACLE[name] is LATE_CALL:
        assert any(isinstance(e, ToolCallStarted) for e in run.events[finished:])
    else:
        assert run.completion.message.content == ""
        assert not any(isinstance(e, (ContentDelta, ContentDone)) for e in run.events)


def _assert_deltas_add_up(run: Run) -> None:
    """Per choice: content, thinking and refusal deltas sum to the result's text; each call is
    started once, in order, and its argument deltas sum to its arguments."""
    texts = ((ContentDelta, "content"), (ReasoningDelta, "reasoning_content"), (RefusalDelta, "refusal"))
    for choice in run.completion.choices:
        mine = [e for e in run.events if getattr(e, "choice", None) == choice.index]
        for kind, field in texts:
            summed = "".join(e.delta for e in mine if isinstance(e, kind))
            assert summed == (getattr(choice.message, field) or ""), field
        calls = choice.message.tool_calls or []
        assert [e.call for e in mine if isinstance(e, ToolCallStarted)] == list(range(len(calls)))
        for position, call in enumerate(calls):
            pieces = [e.delta for e in mine if isinstance(e, ToolCallArgumentsDelta) and e.call == position]
            assert call.function is not None and "".join(pieces) == call.function.arguments


def test_the_reference_models_the_rules_no_recording_exercises() -> None:
    """The reference's rules for a Gemini thought flag (§4.5), one text under both thinking names
    (§3.5) and surrogates (§11.5) agree with chunkwise on a stream that has them all."""
    flag = {"google": {"thought": True}}
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": "<thought>plan", "extra_content": flag}}]},
        {"choices": [{"index": 0, "delta": {"content": "</thought>Answer \ud83d"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "\ude00 ok \udc00", "reasoning_content": "x", "reasoning": "x"},
                    "finish_reason": "stop",
                }
            ]
        },
    ]
    completion, reading = chunkwise.assemble(chunks), ref.read(chunks)
    assert completion.message.content == reading.text(0, "content") == "Answer \U0001f600 ok \ufffd"
    assert completion.message.reasoning_content == reading.text(0, "reasoning") == "planx"
