"""Small builders shared by the tests."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import chunkwise

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def shared_dir() -> Path | None:
    """`../shared` (or $CHUNKWISE_SHARED): the team's read-only files, not part of this repository."""
    configured = os.environ.get("CHUNKWISE_SHARED")
    path = Path(configured) if configured else ROOT.parent / "shared"
    return path if path.is_dir() else None


def real_recordings() -> Path:
    """``../shared/fixtures/real``, for a module of tests that read the real recordings: the module is
    skipped, visibly, when ``../shared`` is not beside the checkout, and fails when
    ``$CHUNKWISE_SHARED`` names a folder that is not there (a typo must not pass as a skip)."""
    import pytest

    shared = shared_dir()
    if shared is None:
        if os.environ.get("CHUNKWISE_SHARED"):
            raise RuntimeError(f"CHUNKWISE_SHARED={os.environ['CHUNKWISE_SHARED']} is not a directory")
        pytest.skip("../shared is not beside this checkout (CI always provides it)", allow_module_level=True)
    return shared / "fixtures" / "real"


def delta_choice(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    """One entry of `choices` with the given delta fields."""
    entry: dict[str, Any] = {"index": index, "delta": delta}
    if finish is not None:
        entry["finish_reason"] = finish
    return entry


def chunk(*choices: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A `chat.completion.chunk` with a fixed envelope unless overridden."""
    out: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 100,
        "model": "m",
    }
    out["choices"] = list(choices)
    out.update(fields)
    return out


def run(chunks: list[Any], **options: Any) -> tuple[chunkwise.ChatCompletion, list[chunkwise.Event]]:
    """Feed every chunk, close, and return the completion and all events."""
    assembler = chunkwise.StreamAssembler(**options)
    events: list[chunkwise.Event] = []
    for item in chunks:
        events += assembler.feed(item)
    events += assembler.close()
    return assembler.completion, events


def sse(*chunks: Any, done: bool = True) -> bytes:
    """An SSE body: each chunk as `data: <json>` (a str is written as the data verbatim)."""
    lines = [c if isinstance(c, str) else json.dumps(c) for c in chunks]
    if done:
        lines.append("[DONE]")
    return "".join(f"data: {line}\n\n" for line in lines).encode()


def of_type(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def cut_at(data: Any, points: list[int]) -> list[Any]:
    """`data` (str or bytes) cut at the given positions."""
    bounds = [0, *sorted(p for p in points if 0 < p < len(data)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


class Served:
    """`python -m chunkwise._cli serve ARGS` in a subprocess; `url` is the first line it printed."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "chunkwise._cli", "serve", *args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().rstrip("\n")
        assert self.url.startswith("http://127.0.0.1:") and self.url.endswith("/v1"), self.process.stderr

    def stop(self, how: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.process.send_signal(how)
        try:
            out, err = self.process.communicate(timeout=10)
        finally:
            self.process.kill()  # no-op once it exited; never leave a server behind
        return self.process.returncode, out, err
