"""``chunkwise replay`` over archives: many files, several responses per file, one JSON line each.

Contract: ``replay_file(path, ...)`` reads one recording, cuts it into responses with
``split_responses`` and assembles each; it returns one plain dict per response and raises nothing
for any file (a file that cannot be read gives one record whose outcome is ``"unreadable"``). It is
a module-level function of plain arguments returning plain data, so any process pool or cluster
scheduler can run it: ``ProcessPoolExecutor.map``, Dask's ``delayed``, Ray's ``remote``.

``replay_files`` runs it over files in order, on one process or on a pool, and yields each file's
records in the order of the files whatever the number of workers (``Executor.map`` keeps it), so
the output of ``-j 8`` is the output of ``-j 1``.

A record::

    {"file": "logs/a.sse", "response": 0, "outcome": "complete", "completion": {...}}
    {"file": "logs/a.sse", "response": 1, "outcome": "IncompleteStreamError",
     "error": "...", "partial": {...}}
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from ._assembler import StreamAssembler
from ._errors import (
    AssemblerStateError,
    ChunkwiseError,
    IncompleteStreamError,
    MalformedChunkError,
    ServerError,
)
from ._models import ChatCompletion
from ._output import _plain, reason
from ._payloads import SUFFIXES, jsonl_to_sse
from ._split import split_responses

__all__ = ["exit_code", "expand", "replay_file", "replay_files"]

COMPLETE = "complete"
UNREADABLE = "unreadable"

# The exit code of a run is that of its worst record, worst first: input that could not be read
# at all (2), then a stream that breaks the protocol (5), one cut short (4), and last a stream that
# faithfully carried the server's own error (3). Codes as in ``_cli``'s table.
_CODES: list[tuple[str, int]] = [
    (UNREADABLE, 2),
    (MalformedChunkError.__name__, 5),
    (AssemblerStateError.__name__, 5),
    (IncompleteStreamError.__name__, 4),
    (ServerError.__name__, 3),
]

# How many files each worker takes at a time: large enough that the pool's per-task cost vanishes
# on archives of small files, small enough that the progress bar keeps moving.
_BATCH = 8


def expand(paths: Iterable[str]) -> list[str]:
    """The files named: a file as given, a folder as every recording (``*.sse``, ``*.jsonl``) below
    it, sorted by path.

    Raises ``FileNotFoundError`` for a path that does not exist.
    """
    files: list[str] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            # Suffixes in any case (`A.SSE`), as `serve`, `recordings()` and a file named here take them.
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            files.extend(str(p) for p in found)
        elif path.exists():
            files.append(name)
        else:
            raise FileNotFoundError(2, "No such file or directory", name)
    return files


def replay_file(
    path: str, thought_tag: str | None = None, require_done: bool = False, thought_open: bool = False
) -> list[dict[str, Any]]:
    """Every response in the recording at ``path``, assembled, as one record each (module docstring)."""
    try:
        with open(path, "rb") as file:
            data = file.read()
        if path.lower().endswith(".jsonl"):
            data = jsonl_to_sse(data)  # one payload per line, as `chunkwise serve` replays it
    except OSError as exc:
        return [{"file": path, "response": 0, "outcome": UNREADABLE, "error": f"cannot read: {reason(exc)}"}]
    records = []
    for number, piece in enumerate(split_responses(data)):
        record: dict[str, Any] = {"file": path, "response": number}
        assembler = StreamAssembler(
            thought_tag=thought_tag, thought_open=thought_open, require_done=require_done, emit_events=False
        )
        try:
            assembler.feed_bytes(piece)
            assembler.close()
            record["outcome"] = COMPLETE
            record["completion"] = _dump(assembler.completion)
        except ChunkwiseError as exc:
            partial = exc.partial if exc.partial is not None else assembler.snapshot
            record["outcome"] = type(exc).__name__
            record["error"] = exc.message
            record["partial"] = _dump(partial)
        records.append(record)
    return records


def _dump(completion: ChatCompletion) -> Any:
    """The completion as plain JSON data, as ``replay --json`` prints it."""
    try:
        return completion.model_dump(mode="json", exclude_none=True)
    except (ValueError, TypeError, RecursionError):
        return _plain(completion)  # pydantic gives up on values nested past its depth


def replay_files(
    files: Sequence[str],
    *,
    jobs: int = 1,
    thought_tag: str | None = None,
    require_done: bool = False,
    thought_open: bool = False,
) -> Iterator[list[dict[str, Any]]]:
    """``replay_file`` over ``files``, yielding each file's records in the order of ``files``.

    ``jobs`` > 1 runs them on that many worker processes (never more than there are files).
    """
    work = functools.partial(
        replay_file, thought_tag=thought_tag, require_done=require_done, thought_open=thought_open
    )
    jobs = min(jobs, len(files))
    if jobs <= 1:
        yield from map(work, files)
        return
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        chunksize = max(1, min(_BATCH, len(files) // (jobs * 4)))
        yield from pool.map(work, files, chunksize=chunksize)
    finally:
        # Ctrl-C, or a reader of stdout that left: the files not yet started are not replayed.
        pool.shutdown(wait=True, cancel_futures=True)


def exit_code(outcomes: Iterable[str]) -> int:
    """0 when every outcome is ``"complete"``, else the code of the worst one (``_CODES``)."""
    seen = set(outcomes) - {COMPLETE}
    for outcome, code in _CODES:
        if outcome in seen:
            return code
    return 5 if seen else 0  # an error class the table does not name: the stream is at fault


def default_jobs() -> int:
    """``-j 0``: one worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Progress:
    """A one-line progress bar on ``stream`` (stderr), redrawn in place with ``\\r``."""

    _WIDTH = 30

    def __init__(self, stream: TextIO, total: int) -> None:
        self._stream = stream
        self._total = total
        self._done = 0
        self._failed = 0

    def step(self, records: list[dict[str, Any]]) -> None:
        self._done += 1
        self._failed += sum(record["outcome"] != COMPLETE for record in records)
        filled = self._WIDTH * self._done // max(self._total, 1)
        bar = "#" * filled + "." * (self._WIDTH - filled)
        self._write(f"\r[{bar}] {self._done}/{self._total} files, {self._failed} failed responses")

    def close(self) -> None:
        self._write("\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass  # stderr gone: the bar is a courtesy, the output on stdout is what matters


def wants_progress(stream: TextIO | None, total: int) -> bool:
    """A bar only for a person watching a terminal, and only when there are many files to wait on."""
    if stream is None or total < 2:
        return False
    try:
        return stream.isatty()
    except (OSError, ValueError, AttributeError):
        return False
