"""Assembly cost grows linearly with the stream (no repeated concatenation onto a growing buffer)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

import chunkwise


def text_chunks(n: int) -> list[dict[str, Any]]:
    chunks = [{"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]} for i in range(n)]
    return [*chunks, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]


def argument_chunks(n: int) -> list[dict[str, Any]]:
    first = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": "["}}
    chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [first]}}]}]
    chunks += [
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": f"{i},"}}]}}
            ]
        }
        for i in range(n)
    ]
    chunks.append(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "0]"}}]},
                    "finish_reason": "tool_calls",
                }
            ]
        }
    )
    return chunks


def think_bytes(n: int) -> bytes:
    pieces = ["<thi", "nk>a", " b</th", "ink>c "] * (n // 4)
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()


def best_time(fn: Callable[[], Any], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize(
    ("name", "make", "run"),
    [
        ("text", text_chunks, lambda c: chunkwise.assemble(c)),
        ("tool arguments", argument_chunks, lambda c: chunkwise.assemble(c)),
        ("<think> bytes", think_bytes, lambda b: chunkwise.assemble(b, thought_tag="think")),
    ],
)
def test_ten_times_the_stream_takes_about_ten_times_as_long(name: str, make: Any, run: Any) -> None:
    """100k pieces take about 10x what 10k take; quadratic building would take about 100x.

    The bound (30) leaves room for this shared machine's slow spells (up to 2x).
    """
    small, large = make(10_000), make(100_000)
    ratio = best_time(lambda: run(large)) / best_time(lambda: run(small))
    assert ratio < 30, f"{name}: 100k/10k = {ratio:.1f}"


def test_memory_stays_near_the_size_of_the_answer() -> None:
    """100k one-token fragments from raw bytes: peak memory within 3x the answer plus a constant.

    A plain list of 100k small strings would cost about twelve times the text it holds.
    """
    import tracemalloc

    chunks = text_chunks(100_000)
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()
    answer = "".join(f"w{i} " for i in range(100_000))
    tracemalloc.start()
    try:
        assembler = chunkwise.StreamAssembler(emit_events=False)
        for start in range(0, len(body), 16_384):
            assembler.feed_bytes(body[start : start + 16_384])
        assembler.close()
        assert assembler.completion.message.content == answer
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(answer) + 1_000_000, f"peak {peak} bytes for a {len(answer)}-character answer"


def renamed_fragments(n: int) -> list[dict[str, Any]]:
    """A call whose later fragments (index, no id) carry another name: each must not re-join the arguments."""
    first = {"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}
    chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [first]}}]}]
    fragment = {"index": 0, "function": {"name": "g", "arguments": "x" * 60}}
    chunks += [{"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}] * n
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return chunks


def test_renamed_fragments_stay_linear() -> None:
    """Fragments naming another function (kept out of the name) cost the same each: 10x of them take ~10x."""
    small, large = renamed_fragments(5_000), renamed_fragments(50_000)
    ratio = best_time(lambda: chunkwise.assemble(large)) / best_time(lambda: chunkwise.assemble(small))
    assert ratio < 30, f"50k/5k = {ratio:.1f}"


def test_memory_of_a_large_argument_stays_near_its_size() -> None:
    """100k argument fragments, each an object (a 1.2 MB array of them): checking the arguments at
    the finish must not build every object just to drop it (they would take twenty times the text)."""
    import tracemalloc

    fragment = {"index": 0, "function": {"arguments": '{"n": 1}, '}}
    chunks = argument_chunks(0)
    chunks[1:1] = [{"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}] * 100_000
    tracemalloc.start()
    try:
        completion = chunkwise.assemble(chunks)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    arguments = (completion.message.tool_calls or [])[0].function.arguments  # type: ignore[union-attr]
    assert completion.message.tool_calls and completion.message.tool_calls[0].arguments_error is None
    assert peak < 3 * len(arguments) + 1_000_000, (
        f"peak {peak} bytes for {len(arguments)} characters of arguments"
    )
