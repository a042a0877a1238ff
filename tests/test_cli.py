"""`chunkwise replay`: output modes, exit codes, and no traceback for any input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chunkwise._cli import main

from helpers import FIXTURES

VERTEX = FIXTURES / "vertex" / "parallel-tool-calls.sse"


def replay(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["replay", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_readable_view(capsys: pytest.CaptureFixture[str]) -> None:
    """The default view shows each call's parsed arguments, its signature, finish reason and usage."""
    code, out, _ = replay(str(VERTEX), capsys=capsys)
    assert code == 0
    assert "finish_reason: tool_calls" in out
    assert (
        "tool call 1: get_current_weather  id=function-call-c855348a-459a-46a4-a8ad-aa0a4e7c3563  (thought signature: yes)"
        in out
    )
    assert '{"location": "New Delhi, India", "unit": "celsius"}' in out
    assert "(thought signature: no)" in out
    assert "usage: prompt 27, completion 45, total 576, reasoning 504" in out


def test_readable_view_sets_thinking_apart(capsys: pytest.CaptureFixture[str]) -> None:
    """Thinking is shown under its own heading, never inside the answer."""
    code, out, _ = replay(
        "--thought-tag", "think", str(FIXTURES / "vertex" / "thought-tag-marker-think.sse"), capsys=capsys
    )
    assert code == 0
    thinking, answer = out.split("  answer:")
    assert "  thinking:" in thinking and "which is prime." in thinking
    assert "Yes. n = 2" in answer and "<think>" not in out


def test_events_one_json_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`--events` prints every event as one JSON line, ending with StreamEnded."""
    code, out, _ = replay("--events", str(VERTEX), capsys=capsys)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [e["type"] for e in lines].count("ToolCallStarted") == 2
    assert lines[-1] == {"type": "StreamEnded", "complete": True, "done_received": True}


@pytest.mark.parametrize(
    ("name", "code", "error"),
    [
        (
            "failures/vertex-raw-error-line.sse",
            3,
            "ServerError: server error 499 CANCELLED: The operation was cancelled.",
        ),
        ("failures/event-error.sse", 3, "ServerError: server error tool_use_failed: Tool choice is required"),
        ("failures/truncated.sse", 4, "IncompleteStreamError: the stream ended before choice 0 finished"),
        ("failures/malformed-json.sse", 5, "MalformedChunkError: malformed chunk #2: invalid JSON"),
    ],
)
@pytest.mark.parametrize("mode", [[], ["--json"], ["--events"]])
def test_failure_exit_codes_and_one_line_reason(
    name: str, code: int, error: str, mode: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed stream prints the partial result as usual, one line naming the error, and a distinct code."""
    got, out, err = replay(*mode, str(FIXTURES / name), capsys=capsys)
    assert got == code
    assert err.startswith("chunkwise: " + error) and err.count("\n") == 1
    assert out.strip()
    if mode == ["--events"]:
        assert all(json.loads(line) for line in out.splitlines())


def test_unreadable_file_and_bad_tag_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file or an impossible tag exits 2 with a message, no traceback."""
    code, out, err = replay(str(tmp_path / "missing.sse"), capsys=capsys)
    assert (code, out) == (2, "") and "cannot read" in err
    code, _, err = replay("--thought-tag", "<think>", str(VERTEX), capsys=capsys)
    assert code == 2 and "thought_tag" in err


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe garbage",
        b"data: {\n\n",
        b"data: []\n\n",
        b"hello world\n",
        b'data: {"choices": 7}\n\n',
        b"\x00" * 10,
    ],
)
def test_console_script_never_prints_a_traceback(body: bytes) -> None:
    """The installed `chunkwise` command, fed junk on stdin: a one-line reason and a documented code."""
    proc = subprocess.run(
        [sys.executable, "-m", "chunkwise._cli", "replay", "--json", "-"],
        input=body,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode in (4, 5)
    assert b"Traceback" not in proc.stderr and proc.stderr.count(b"\n") == 1
    assert isinstance(json.loads(proc.stdout), dict)


def test_installed_entry_point_replays_the_bundled_default() -> None:
    """`chunkwise replay` (the console script) works with no arguments."""
    proc = subprocess.run(["chunkwise", "replay", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["usage"]["total_tokens"] == 576
