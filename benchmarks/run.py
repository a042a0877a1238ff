"""chunkwise against the JSON floor and against its peers, measured in one process, best of N.

    python3 -m pip install -e ".[bench]" && python3 benchmarks/run.py [--quick] [--write-readme]

For each stream it times, on the same chunks:

* the floors: ``json.loads`` of every ``data:`` payload (and ``orjson.loads`` when installed),
  pydantic-core's ``from_json`` (the parser chunkwise uses, alone), and a trivial loop that
  appends text/argument fragments from already-parsed dicts (the room an assembler has);
* chunkwise from parsed dicts (``feed`` with events, then ``close`` and ``completion``), the same
  through ``assemble`` (no events), from the raw SSE body through ``assemble(bytes)`` (decoding +
  JSON + assembly), and from the body in 16 KiB pieces through ``feed_bytes`` with events;
* openai-python's ``ChatCompletionStreamState`` (each dict built into a ``ChatCompletionChunk`` the
  way the SDK's stream does, then ``handle_chunk``) and LiteLLM's ``stream_chunk_builder`` (on the
  dicts), when they are installed; a peer that raises or returns a wrong answer is reported so.

It reports microseconds per chunk, the ratio to ``json.loads`` on the same stream, the 100k / 10k
time ratio, and peak traced memory (tracemalloc, a separate run) against the size of the final
completion's JSON. ``--write-readme`` puts the table into README.md with the machine it ran on.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault(
    "LITELLM_LOCAL_MODEL_COST_MAP", "True"
)  # LiteLLM fetches a price list at import otherwise

import chunkwise

ROOT = Path(__file__).resolve().parent.parent
VERTEX_FIXTURE = ROOT / "fixtures" / "vertex" / "parallel-tool-calls.sse"
PIECE = 16 * 1024

# ---------------------------------------------------------------- streams


@dataclass
class Stream:
    name: str
    chunks: list[dict[str, Any]]
    truth: dict[int, dict[str, Any]]  # choice index -> {"content", "reasoning", "calls": [(name, arguments)]}
    thought_tag: str | None = None
    repeat: int = 1  # small streams are assembled `repeat` times per measurement
    payloads: list[str] = field(default_factory=list)
    body: bytes = b""

    def __post_init__(self) -> None:
        self.payloads = [json.dumps(c, separators=(",", ":"), ensure_ascii=False) for c in self.chunks]
        self.body = "".join(f"data: {p}\n\n" for p in [*self.payloads, "[DONE]"]).encode()


def _envelope(model: str = "gpt-4o-2024-08-06") -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1770850461,
        "model": model,
        "system_fingerprint": "fp_eb9dce56a8",
    }


def _text_chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        **_envelope(),
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def text_stream(n: int) -> Stream:
    words = [f"tok{i % 97} " for i in range(n)]
    chunks = [_text_chunk(0, {"role": "assistant", "content": ""})]
    chunks += [_text_chunk(0, {"content": w}) for w in words]
    chunks.append(_text_chunk(0, {}, "stop"))
    chunks.append(
        {
            **_envelope(),
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": n + 10},
        }
    )
    return Stream(
        f"text {n // 1000}k", chunks, {0: {"content": "".join(words), "reasoning": None, "calls": []}}
    )


def tool_stream(n: int) -> Stream:
    pieces = ['{"items": ['] + [f'{{"n": {i}}}, ' for i in range(n - 2)] + ['{"n": -1}]}']
    chunks = [
        _text_chunk(
            0,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_q8y3",
                        "type": "function",
                        "function": {"name": "store", "arguments": ""},
                    }
                ],
            },
        )
    ]
    chunks += [_text_chunk(0, {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces]
    chunks.append(_text_chunk(0, {}, "tool_calls"))
    return Stream(
        f"tool args {n // 1000}k",
        chunks,
        {0: {"content": None, "reasoning": None, "calls": [("store", "".join(pieces))]}},
    )


def think_stream(n: int) -> Stream:
    """Vertex `thought_tag_marker: "think"`: role on every chunk, thought blocks with tags cut in two."""
    env = _envelope("google/gemini-2.5-flash")
    env["system_fingerprint"] = ""
    pieces: list[str] = []
    thinking: list[str] = []
    answer: list[str] = []
    block = 40
    for i in range(n):
        position = i % block
        if position == 0:
            pieces.append("<thi")
        elif position == 1:
            pieces.append(f"nk>idea {i} ")
            thinking.append(f"idea {i} ")
        elif position == block // 2:
            pieces.append(f"more {i}</th")
            thinking.append(f"more {i}")
        elif position == block // 2 + 1:
            pieces.append("ink>\n\n")
            answer.append("\n\n")
        elif position < block // 2:
            pieces.append(f"step {i} ")
            thinking.append(f"step {i} ")
        else:
            pieces.append(f"word {i} ")
            answer.append(f"word {i} ")
    chunks = [
        {**env, "choices": [{"index": 0, "delta": {"role": "assistant", "content": p}, "logprobs": None}]}
        for p in pieces
    ]
    chunks.append(
        {
            **env,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
        }
    )
    truth = {0: {"content": "".join(answer), "reasoning": "".join(thinking), "calls": []}}
    return Stream(f"<think> {n // 1000}k", chunks, truth, thought_tag="think")


def n3_stream(n: int) -> Stream:
    texts: dict[int, list[str]] = {0: [], 1: [], 2: []}
    chunks = []
    for i in range(n):
        index = i % 3
        word = f"c{index}w{i} "
        texts[index].append(word)
        chunks.append(
            _text_chunk(index, {"role": "assistant", "content": word} if i < 3 else {"content": word})
        )
    chunks += [_text_chunk(i, {}, "stop") for i in range(3)]
    truth = {i: {"content": "".join(t), "reasoning": None, "calls": []} for i, t in texts.items()}
    return Stream(f"n=3 {n // 1000}k", chunks, truth)


def vertex_stream() -> Stream:
    chunks = [
        json.loads(line[6:]) for line in VERTEX_FIXTURE.read_text().splitlines() if line.startswith("data: {")
    ]
    truth = {
        0: {
            "content": None,
            "reasoning": None,
            "calls": [
                ("get_current_weather", '{"location":"Boston, MA","unit":"celsius"}'),
                ("get_current_weather", '{"location":"New Delhi, India","unit":"celsius"}'),
            ],
        }
    }
    return Stream("Vertex parallel tools (x2000)", chunks, truth, repeat=2000)


# ---------------------------------------------------------------- contenders


def floor_json(s: Stream) -> Any:
    loads = json.loads
    for p in s.payloads:
        loads(p)


def floor_orjson(s: Stream) -> Any:
    import orjson

    loads = orjson.loads
    for p in s.payloads:
        loads(p)


def floor_pydantic(s: Stream) -> Any:
    # The parser chunkwise uses, alone: what reading the payloads costs before any framing or merge.
    from pydantic_core import from_json

    for p in s.payloads:
        from_json(p, allow_inf_nan=False)


def trivial_loop(s: Stream) -> Any:
    parts: dict[int, list[str]] = {}
    for c in s.chunks:
        for choice in c["choices"]:
            delta = choice.get("delta")
            if delta:
                text = delta.get("content")
                if text:
                    parts.setdefault(choice["index"], []).append(text)
                for call in delta.get("tool_calls") or ():
                    args = call["function"].get("arguments")
                    if args:
                        parts.setdefault(-1, []).append(args)
    return {k: "".join(v) for k, v in parts.items()}


def _summary(completion: Any) -> dict[int, dict[str, Any]]:
    out = {}
    for choice in completion.choices:
        message = choice.message
        out[choice.index] = {
            "content": message.content or None,
            "reasoning": getattr(message, "reasoning_content", None) or None,
            "calls": [(c.function.name, c.function.arguments) for c in (message.tool_calls or [])],
        }
    return out


def cw_feed(s: Stream) -> Any:
    assembler = chunkwise.StreamAssembler(thought_tag=s.thought_tag)
    feed = assembler.feed
    for c in s.chunks:
        feed(c)
    assembler.close()
    return assembler.completion


def cw_assemble(s: Stream) -> Any:
    return chunkwise.assemble(s.chunks, thought_tag=s.thought_tag)


def cw_bytes(s: Stream) -> Any:
    assembler = chunkwise.StreamAssembler(thought_tag=s.thought_tag)
    body = s.body
    for start in range(0, len(body), PIECE):
        assembler.feed_bytes(body[start : start + PIECE])
    assembler.close()
    return assembler.completion


def cw_assemble_bytes(s: Stream) -> Any:
    return chunkwise.assemble(s.body, thought_tag=s.thought_tag)


def openai_state(s: Stream) -> Any:
    from openai._models import construct_type
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    state: Any = ChatCompletionStreamState()
    for c in s.chunks:
        state.handle_chunk(construct_type(type_=ChatCompletionChunk, value=c))
    return state.get_final_completion()


def litellm_builder(s: Stream) -> Any:
    import litellm

    litellm.suppress_debug_info = True  # else it prints a provider list per call for unknown models
    return litellm.stream_chunk_builder(s.chunks)


def _available(module: str) -> bool:
    try:
        __import__(module)
    except Exception:
        return False
    return True


# (label, function, checks the answer, is a peer)
CONTENDERS: list[tuple[str, Callable[[Stream], Any], bool, bool]] = [
    ("json.loads (floor)", floor_json, False, False),
    ("orjson.loads", floor_orjson, False, False),
    ("pydantic_core.from_json (parse floor)", floor_pydantic, False, False),
    ("trivial append loop", trivial_loop, False, False),
    ("chunkwise feed(dict) + events", cw_feed, True, False),
    ("chunkwise assemble(dicts)", cw_assemble, True, False),
    ("chunkwise assemble(bytes) (SSE+JSON)", cw_assemble_bytes, True, False),
    ("chunkwise feed_bytes (SSE+JSON+events)", cw_bytes, True, False),
    ("openai ChatCompletionStreamState", openai_state, True, True),
    ("litellm stream_chunk_builder", litellm_builder, True, True),
]


# ---------------------------------------------------------------- measuring


def _time(fn: Callable[[Stream], Any], s: Stream, repeat: int | None = None) -> tuple[float, Any]:
    repeat = repeat or s.repeat
    gc.collect()
    result = None
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn(s)
    return (time.perf_counter() - start) / repeat, result


def peak_memory(fn: Callable[[Stream], Any], s: Stream) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn(s)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@dataclass
class Row:
    stream: str
    label: str
    chunks: int
    seconds: float | None  # best run
    ratio: float | None  # median over rounds of (this run / json.loads run beside it)
    runs: int = 0
    peak: int | None = None
    note: str = ""


def run(quick: bool) -> tuple[list[Row], dict[str, int]]:
    """Time every contender on every stream.

    This machine (a shared 2-core VM) runs in fast and slow spells of a few seconds, in which
    everything takes up to twice as long. So each round times ``json.loads`` right before and right
    after every contender, and the ratio to ``json.loads`` is the median over rounds of the ratio
    within a round; the microseconds are the best round.
    """
    sizes = (10_000,) if quick else (10_000, 100_000)
    makers: list[Callable[[], Stream]] = [vertex_stream]
    for n in sizes:
        makers += [lambda n=n: text_stream(n), lambda n=n: tool_stream(n)]
        makers += [lambda n=n: think_stream(n), lambda n=n: n3_stream(n)]
    present = {
        "orjson": _available("orjson"),
        "openai": _available("openai"),
        "litellm": _available("litellm"),
    }
    rows: list[Row] = []
    completion_size: dict[str, int] = {}
    for make in makers:
        s = make()
        # The input chunks live through every run; frozen, the collector need not scan them again
        # and again (a real client drops each chunk once merged).
        gc.collect()
        gc.freeze()
        big = len(s.chunks) > 50_000
        rounds = 5 if big else 15
        peer_rounds = 1 if big or quick else 3
        contenders = []
        for label, fn, check, peer in CONTENDERS:
            module = "orjson" if label.startswith("orjson") else label.split()[0] if peer else None
            if module is None or present[module]:
                contenders.append((label, fn, check, peer))
            else:
                rows.append(Row(s.name, label, len(s.chunks), None, None, note="not installed"))
        best: dict[str, float] = {}
        ratios: dict[str, list[float]] = {}
        results: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for round_number in range(rounds):
            for label, fn, _, peer in contenders:
                if label in failed or (peer and round_number >= peer_rounds):
                    continue
                # Peers are slow (LiteLLM takes ~70 ms per 12-chunk Gemini stream): fewer repeats.
                repeat = max(1, s.repeat // 100) if peer else s.repeat
                before, _ = _time(floor_json, s, repeat)
                try:
                    seconds, results[label] = _time(fn, s, repeat)
                except Exception as exc:  # a peer failing on a real stream shape is a finding
                    failed[label] = f"raised {type(exc).__name__}: {str(exc)[:60]}"
                    continue
                after, _ = _time(floor_json, s, repeat)
                best[label] = min(seconds, best.get(label, seconds))
                ratios.setdefault(label, []).append(seconds / ((before + after) / 2))
        completion_size[s.name] = len(
            chunkwise.assemble(s.chunks, thought_tag=s.thought_tag).model_dump_json()
        )
        for label, fn, check, peer in contenders:
            if label in failed:
                rows.append(Row(s.name, label, len(s.chunks), None, None, note=failed[label]))
                continue
            note = ""
            if check:
                got = _summary(results[label])
                if got != s.truth:
                    note = "WRONG: " + _difference(got, s.truth)
            # Peers under tracemalloc take minutes on 100k chunks: their memory is taken on 10k.
            peak = peak_memory(fn, s) if s.repeat == 1 and not (peer and big) else None
            ratio = statistics.median(ratios[label])
            rows.append(Row(s.name, label, len(s.chunks), best[label], ratio, len(ratios[label]), peak, note))
            per_chunk = best[label] / len(s.chunks) * 1e6
            print(f"{s.name:30} {label:40} {per_chunk:9.2f} us/chunk {ratio:6.2f}x {note}", file=sys.stderr)
        gc.unfreeze()
        del s, results
    return rows, completion_size


def _difference(got: dict[int, dict[str, Any]], truth: dict[int, dict[str, Any]]) -> str:
    for index, want in truth.items():
        have = got.get(index)
        if have is None:
            return f"choice {index} missing"
        for key in ("content", "reasoning", "calls"):
            if have[key] != want[key]:
                shown = repr(have[key])
                return f"{key} of choice {index} = {shown[:60]}{'...' if len(shown) > 60 else ''}"
    return "extra choices"


# ---------------------------------------------------------------- reporting


def cpu_name() -> str:
    """The processor's model name (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    cpu = cpu_name()
    versions = [f"Python {platform.python_version()}", f"chunkwise {chunkwise.__version__}"]
    for module in ("pydantic", "orjson", "openai", "litellm"):
        try:
            from importlib.metadata import version

            versions.append(f"{module} {version(module)}")
        except Exception:
            pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; " + ", ".join(versions)


def table(rows: list[Row], completion_size: dict[str, int]) -> str:
    by_key = {(r.stream, r.label): r for r in rows}
    lines = [
        "| stream | contender | us/chunk | x json.loads | 100k/10k | 100k/10k, json-paired "
        "| peak MiB (result MiB) | runs | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.seconds is None or r.ratio is None:
            lines.append(f"| {r.stream} | {r.label} | - | - | - | - | - | - | {r.note} |")
            continue
        per_chunk = r.seconds / r.chunks * 1e6
        scale = paired = ""
        if r.stream.endswith(" 100k"):
            small = by_key.get((r.stream[:-5] + " 10k", r.label))
            if small is not None and small.seconds and small.ratio:
                scale = f"{r.seconds / small.seconds:.1f}"
                # json.loads per payload is linear, so 10 x (ratio at 100k / ratio at 10k) is the
                # growth with the machine's drift between the two measurements taken out.
                paired = f"{10 * r.ratio / small.ratio:.1f}"
        peak = "" if r.peak is None else f"{r.peak / 2**20:.1f} ({completion_size[r.stream] / 2**20:.2f})"
        cells = [
            r.stream,
            r.label,
            f"{per_chunk:.2f}",
            f"{r.ratio:.2f}",
            scale,
            paired,
            peak,
            str(r.runs),
            r.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = ROOT / "README.md"
    content = readme.read_text()
    start, end = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
    if start not in content or end not in content:
        raise SystemExit("README.md has no benchmarks markers")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k streams only, one run of each peer")
    parser.add_argument("--write-readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args()
    rows, sizes = run(args.quick)
    report = (
        f"Measured {date.today().isoformat()} on {machine()}. Every contender runs on the same chunks in "
        "one process, in rounds, with `json.loads` of the same payloads timed right before and after "
        "it: `x json.loads` is the median over rounds of that ratio, `us/chunk` the best round, "
        "`100k/10k` the ratio of best times and `100k/10k, json-paired` ten times the ratio of the "
        "two `x json.loads` medians (the machine's speed drifts between the two). Peak memory is "
        "tracemalloc's peak during one run, the input chunks already in memory (peers: 10k only)."
        "\n\n" + table(rows, sizes)
    )
    print(report)
    if args.write_readme:
        write_readme(report)


if __name__ == "__main__":
    main()
