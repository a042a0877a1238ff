"""The partial value of streamed JSON after every chunk: chunkwise's PartialJSON against re-parsing.

    python3 benchmarks/partial_bench.py [--quick]

Two structured-output answers, each cut into 2k and 20k chunks of about four characters (a token's
worth):

* ``records``: ``{"events": [...]}`` of calendar-event records, as a ``response_format`` schema for
  a list of objects would produce: many short strings, numbers, booleans, nested lists;
* ``one long string``: ``{"title": ..., "body": "..."}`` whose body is most of the text, the worst
  case for any partial parser that returns Python strings: the open string is a new, longer
  string at every chunk (``chunkwise/_partial.py``, "The open tail").

After every chunk each contender produces the value so far:

* ``PartialJSON``: ``feed(chunk)`` then ``value()`` (chunkwise._partial);
* ``from_json(prefix)``: the text so far kept in one string (``prefix += chunk``) and read whole by
  ``pydantic_core.from_json(prefix, allow_partial="trailing-strings")``: the usual way to a partial
  value (pydantic's documented partial-JSON recipe), which re-reads the whole prefix per chunk;
* ``StreamAssembler``: each chunk fed as a ``chat.completion.chunk`` dict, then
  ``partial_content()``: what a user writes (the text reaches the reader through the assembler);
  beside it the same feeding without partial reads, the answer read once at the end;
* for scale, ``PartialJSON`` fed every chunk and asked once at the end, and ``json.loads`` of the
  finished text once (the floor: reading the answer a single time).

Every contender's final value is checked against ``json.loads`` of the whole text. Times are the
best of N runs, in CPU time (``best_time``); ``20k/2k`` is the ratio of the two totals: about 10
for a linear cost, about 100 for a quadratic one.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from chunkwise import StreamAssembler
from chunkwise._partial import PartialJSON

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import cpu_name  # benchmarks/run.py, beside this file

CHUNK = 4  # characters per chunk: about one token of JSON

NAMES = ["Alice", "Bob", "Chidi", "Dana", "Eun-ji", "Farid"]
NOTES = [
    "Quarterly roadmap review; bring the draft.",
    "Dentist (remember the insurance card)",
    "Flight LH 123 \u2192 Berlin, gate closes 30 min before",
    "Weekly 1:1",
]


def answer(chunks: int) -> str:
    """A structured-output answer of about ``chunks`` chunks (whole records)."""
    events: list[dict[str, Any]] = []
    size = 0
    while size < chunks * CHUNK:
        i = len(events)
        event = {
            "name": f"Event {i}",
            "date": f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
            "start_hour": 8 + i % 10,
            "duration_hours": 0.5 + (i % 4) / 2,
            "all_day": i % 7 == 0,
            "participants": NAMES[: 1 + i % len(NAMES)],
            "notes": NOTES[i % len(NOTES)],
        }
        events.append(event)
        size += len(json.dumps(event, ensure_ascii=False)) + 2
    return json.dumps({"events": events}, ensure_ascii=False)


def cut(text: str, chunks: int) -> list[str]:
    """``text`` in ``chunks`` pieces of (nearly) equal length."""
    bounds = [len(text) * i // chunks for i in range(chunks + 1)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def ours(pieces: list[str]) -> Any:
    parser = PartialJSON()
    value = None
    for piece in pieces:
        parser.feed(piece)
        value = parser.value()
    return value


def ours_at_the_end(pieces: list[str]) -> Any:
    parser = PartialJSON()
    for piece in pieces:
        parser.feed(piece)
    return parser.value()


def reparse(pieces: list[str]) -> Any:
    prefix = ""
    value = None
    for piece in pieces:
        prefix += piece
        value = from_json(prefix, allow_partial="trailing-strings")
    return value


def _chunks(pieces: list[str]) -> list[dict[str, Any]]:
    return [{"choices": [{"index": 0, "delta": {"content": piece}}]} for piece in pieces]


def assembler_asking(pieces: list[str]) -> Any:
    # What a user writes: the chunk fed, the draft read, after every chunk (the text reaches the
    # reader through the assembler's pieces, `Pieces.since`).
    assembler = StreamAssembler(emit_events=False)
    value = None
    for chunk in _chunks(pieces):
        assembler.feed(chunk)
        value = assembler.partial_content()
    return value


def assembler_only(pieces: list[str]) -> Any:
    assembler = StreamAssembler(emit_events=False)
    for chunk in _chunks(pieces):
        assembler.feed(chunk)
    return json.loads(assembler.snapshot.choices[0].message.content or "")


def loads_once(pieces: list[str]) -> Any:
    return json.loads("".join(pieces))


CONTENDERS: list[tuple[str, Callable[[list[str]], Any]]] = [
    ("PartialJSON, value() after every chunk", ours),
    ('from_json(prefix, allow_partial="trailing-strings") after every chunk', reparse),
    ("PartialJSON, value() once at the end", ours_at_the_end),
    ("StreamAssembler: feed + partial_content() after every chunk", assembler_asking),
    ("StreamAssembler: feed only, json.loads at the end", assembler_only),
    ("json.loads of the whole text, once (floor)", loads_once),
]


def best_time(fn: Callable[[], Any], runs: int) -> float:
    """The best of ``runs`` runs, in this process's CPU time: on a shared machine, wall time also
    counts the other processes' turns (a 20k-chunk run measured 8x to 30x a 2k one on two busy
    cores; in CPU time, 10x +- 0.5)."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def machine() -> str:
    versions = [f"Python {platform.python_version()}", f"pydantic-core {version('pydantic-core')}"]
    return f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; " + ", ".join(
        versions
    )


def essay(chunks: int) -> str:
    """A structured-output answer of about ``chunks`` chunks, nearly all of it one string."""
    words = " ".join(f"word{i % 97}" for i in range(chunks * CHUNK // 7))
    return json.dumps({"title": "An essay", "body": f"\u201c{words}.\u201d\n"})


STREAMS: list[tuple[str, Callable[[int], str]]] = [("records", answer), ("one long string", essay)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (1 of the slow re-parse at 20k)")
    options = parser.parse_args()
    sizes = (2_000, 20_000)
    print(f"Machine: {machine()}.\n")
    print("| stream | contender | 2k chunks | us/chunk | 20k chunks | us/chunk | 20k/2k |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for stream, make in STREAMS:
        pieces_by_size = {n: cut(make(n), n) for n in sizes}
        results: dict[tuple[str, int], float] = {}
        for label, fn in CONTENDERS:
            for n, pieces in pieces_by_size.items():
                if fn(pieces) != json.loads("".join(pieces)):
                    raise SystemExit(f"{label}: wrong final value for {stream} at {n} chunks")
                slow = fn is reparse and n > sizes[0]
                runs = (1 if slow else 3) if options.quick else (2 if slow else 7)
                results[label, n] = best_time(functools.partial(fn, pieces), runs)
        for label, _ in CONTENDERS:
            small, large = results[label, sizes[0]], results[label, sizes[1]]
            print(
                f"| {stream} | {label} | {small * 1e3:,.1f} ms | {small / sizes[0] * 1e6:,.2f} "
                f"| {large * 1e3:,.1f} ms | {large / sizes[1] * 1e6:,.2f} | {large / small:.1f} |"
            )
    characters = ", ".join(f"{stream} {len(make(n)):,}" for stream, make in STREAMS for n in sizes)
    print(f"\nCharacters per answer (2k, 20k chunks): {characters}.")


if __name__ == "__main__":
    main()
