"""Where the time of ``assemble(bytes)`` goes, layer by layer, as a ratio to ``json.loads``.

    python3 benchmarks/floors.py [--quick]

Each row is a prefix of the pipeline, run on the same stream in one process, in rounds with
``json.loads`` of the same payloads timed right before and after (the ratio is the median over
rounds), so the difference between two rows is what one layer costs:

1. ``pydantic_core.from_json`` of every payload: the parser chunkwise uses, alone;
2. the SSE decoder over the body in 64 KiB pieces (``SSEDecoder.decode_compact``): framing alone;
3. decoder + ``from_json``: the two floors of the bytes path together;
4. the assembler's per-chunk loop with the merge replaced by a no-op call: dispatch alone;
5. ``assemble(dicts)``: envelope, choices, per-field rules and the final build;
6. ``assemble(bytes)`` with every payload parsed whole (``_shapes`` off): decoder + parse + assembly;
7. ``assemble(bytes)``: all of it, a payload that repeats its shape read by its strings alone.

``benchmarks/run.py`` compares chunkwise with its peers; this file says what is left to gain.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_core import from_json

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chunkwise
import run as bench
from chunkwise import _shapes
from chunkwise._assembler import StreamAssembler
from chunkwise._sse import SSEDecoder


def parse_only(s: bench.Stream) -> Any:
    for p in s.payloads:
        from_json(p, allow_inf_nan=False)


PIECE = 1 << 16  # as assemble(bytes) feeds a body


def decode_only(s: bench.Stream) -> Any:
    decoder = SSEDecoder()
    body = memoryview(s.body)
    for start in range(0, len(body), PIECE):
        decoder.decode_compact(bytes(body[start : start + PIECE]))
    decoder.flush_compact()


def decode_and_parse(s: bench.Stream) -> Any:
    decoder = SSEDecoder()
    body = memoryview(s.body)
    for start in range(0, len(body), PIECE):
        for item in decoder.decode_compact(bytes(body[start : start + PIECE])):
            if type(item) is str and item != "[DONE]":
                from_json(item, allow_inf_nan=False)
    decoder.flush_compact()


def dispatch_only(s: bench.Stream) -> Any:
    assembler = StreamAssembler(emit_events=False)
    assembler._apply_chunk = lambda chunk, out, events: None  # type: ignore[method-assign]
    assembler._feed_many(s.chunks)


def assemble_dicts(s: bench.Stream) -> Any:
    return chunkwise.assemble(s.chunks, thought_tag=s.thought_tag)


def assemble_bytes(s: bench.Stream) -> Any:
    return chunkwise.assemble(s.body, thought_tag=s.thought_tag)


def assemble_bytes_no_shapes(s: bench.Stream) -> Any:
    first, _shapes._FIRST = _shapes._FIRST, 10**18  # no payload is read by a shape
    try:
        return chunkwise.assemble(s.body, thought_tag=s.thought_tag)
    finally:
        _shapes._FIRST = first


LAYERS: list[tuple[str, Callable[[bench.Stream], Any]]] = [
    ("from_json of every payload", parse_only),
    ("SSE decoder alone", decode_only),
    ("SSE decoder + from_json", decode_and_parse),
    ("per-chunk dispatch, merge a no-op", dispatch_only),
    ("assemble(dicts)", assemble_dicts),
    ("assemble(bytes), every payload parsed whole", assemble_bytes_no_shapes),
    ("assemble(bytes)", assemble_bytes),
]


def _cpu(fn: Callable[[bench.Stream], Any], s: bench.Stream, repeat: int) -> float:
    # CPU time of this process: this shared 2-core machine's load changes wall time by up to 2x.
    start = time.process_time()
    for _ in range(repeat):
        fn(s)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    streams = [bench.vertex_stream(), bench.text_stream(10_000), bench.tool_stream(10_000)]
    streams += [bench.think_stream(10_000), bench.n3_stream(10_000)]
    print(f"Measured on {bench.machine()}; CPU time, median of {rounds} rounds.\n")
    print("| layer | " + " | ".join(s.name for s in streams) + " |")
    print("|---|" + "---:|" * len(streams))
    table: dict[str, list[str]] = {label: [] for label, _ in LAYERS}
    for s in streams:
        gc.collect()
        gc.freeze()
        repeat = s.repeat
        for label, fn in LAYERS:
            ratios = []
            for _ in range(rounds):
                before = _cpu(bench.floor_json, s, repeat)
                took = _cpu(fn, s, repeat)
                after = _cpu(bench.floor_json, s, repeat)
                ratios.append(took / ((before + after) / 2))
            table[label].append(f"{statistics.median(ratios):.2f}x")
        gc.unfreeze()
    for label, cells in table.items():
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
