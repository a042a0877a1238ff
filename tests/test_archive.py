"""`chunkwise replay` over files and folders: one JSON line per response, in order, on any number of workers."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import chunkwise
from chunkwise._archive import Progress, exit_code, expand, replay_file, wants_progress
from chunkwise._cli import main

from helpers import FIXTURES, ROOT, chunk, delta_choice, shared_dir, sse

CODES = {"complete": 0, "ServerError": 3, "IncompleteStreamError": 4, "MalformedChunkError": 5}


def run(argv: list[str]) -> tuple[int, str, str]:
    """`main(argv)` in-process, stdout a real byte stream."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    buffer = out.buffer
    assert isinstance(buffer, io.BytesIO)
    return code, buffer.getvalue().decode("utf-8"), err.getvalue()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chunkwise._cli", "replay", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_jsonl_on_two_workers_matches_one_by_one_replay() -> None:
    """`replay --jsonl -j 2 fixtures/` prints, in file order, what `replay --json FILE` gives file by file, and -j 1 the same."""
    two, one = cli("--jsonl", "-j", "2", "fixtures"), cli("--jsonl", "-j", "1", "fixtures")
    assert two.stdout == one.stdout and two.returncode == one.returncode == 5
    records = lines(two.stdout)
    files = sorted(FIXTURES.rglob("*.sse"))
    assert [r["file"] for r in records] == [str(Path("fixtures") / f.relative_to(FIXTURES)) for f in files]
    for record, file in zip(records, files, strict=True):
        code, out, _ = run(["replay", "--json", str(file)])
        assert code == CODES[record["outcome"]], file
        assert record["response"] == 0
        assert json.loads(out) == record.get("completion", record.get("partial")), file
        assert ("error" in record) == (record["outcome"] != "complete")


def test_two_response_log_gives_two_complete_lines() -> None:
    """The Cerebras log of two responses gives two complete lines, each the assembly of its own part."""
    shared = shared_dir()
    log = shared / "fixtures/real/cerebras/zai-glm-4.7-structured-tools.sse" if shared else None
    if log is None or not log.is_file():
        pytest.skip("the shared Cerebras recording is not here (set CHUNKWISE_SHARED)")
    code, out, err = run(["replay", "--jsonl", str(log)])
    assert (code, err) == (0, "")
    records = lines(out)
    assert [(r["response"], r["outcome"]) for r in records] == [(0, "complete"), (1, "complete")]
    parts = chunkwise.split_responses(log.read_bytes())
    for record, part in zip(records, parts, strict=True):
        expected = chunkwise.assemble(part).model_dump(mode="json", exclude_none=True)
        assert record["completion"] == expected
    assert records[0]["completion"]["id"] != records[1]["completion"]["id"]


def test_several_responses_in_one_file_are_numbered(tmp_path: Path) -> None:
    """Responses back to back in one file get one line each, numbered from 0; a cut-off last one fails alone."""
    whole = sse(chunk(delta_choice(content="a")), chunk(delta_choice(finish="stop")), done=False)
    cut = sse(chunk(delta_choice(content="b"), id="other"), done=False)
    path = tmp_path / "log.sse"
    path.write_bytes(whole + cut)
    code, out, err = run(["replay", "--jsonl", str(path)])
    records = lines(out)
    assert [(r["response"], r["outcome"]) for r in records] == [(0, "complete"), (1, "IncompleteStreamError")]
    assert records[1]["partial"]["choices"][0]["message"]["content"] == "b"
    assert code == 4 and err == "chunkwise: 1 of 2 responses did not complete\n"


def test_folders_expand_to_every_recording_sorted(tmp_path: Path) -> None:
    """A folder stands for every *.sse and *.jsonl below it, sorted by path; files are kept as given."""
    for name in ["b/z.sse", "a.sse", "b/a.sse", "notes.txt", "c.jsonl"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    got = expand([str(tmp_path), str(tmp_path / "c.jsonl")])
    assert got == [str(tmp_path / n) for n in ["a.sse", "b/a.sse", "b/z.sse", "c.jsonl", "c.jsonl"]]


def test_jsonl_recordings_replay_like_their_sse(tmp_path: Path) -> None:
    """A .jsonl recording (one payload per line) replays to what the same stream as SSE gives."""
    body = (FIXTURES / "vertex" / "parallel-tool-calls.sse").read_bytes()
    payloads = [line[6:] for line in body.split(b"\n") if line.startswith(b"data: ")]
    (tmp_path / "r.jsonl").write_bytes(b"\n".join(payloads) + b"\n")
    (record,) = replay_file(str(tmp_path / "r.jsonl"))
    (expected,) = replay_file(str(FIXTURES / "vertex" / "parallel-tool-calls.sse"))
    assert record["completion"] == expected["completion"]
    with pytest.raises(FileNotFoundError):
        expand([str(tmp_path / "missing")])


def test_readable_summary_without_jsonl() -> None:
    """Several files without --jsonl print one line per response: file, number, outcome and reason."""
    code, out, _ = run(
        ["replay", str(FIXTURES / "failures"), str(FIXTURES / "vertex" / "parallel-tool-calls.sse")]
    )
    assert code == 5
    assert out.splitlines()[-1].endswith("parallel-tool-calls.sse #0: complete")
    assert any(
        "truncated.sse #0: IncompleteStreamError (the stream ended" in line for line in out.splitlines()
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--json", "a.sse", "b.sse"], "--json and --events show one stream; use --jsonl for several files"),
        (["--jsonl", "-"], "stdin ('-') is one stream"),
        (["--jsonl", "-j", "-1", "fixtures"], "-j must be >= 0"),
        (["--jsonl", "missing.sse"], "cannot read missing.sse: No such file or directory"),
        (["--jsonl"], "--jsonl and -j replay FILE or folder arguments; none was given"),
        (["--jsonl", "--thought-tag", "<x>", "fixtures"], "thought_tag must be a tag name"),
    ],
)
def test_usage_errors(argv: list[str], message: str, tmp_path: Path) -> None:
    """A command line the archive mode cannot use exits 2 with one line on stderr and nothing on stdout."""
    code, out, err = run(["replay", *argv])
    assert code == 2 and err.startswith(f"chunkwise: {message}")
    if "--json" in argv:  # --json keeps its contract: one JSON object, also for a usage error
        assert json.loads(out)["error"]["message"].startswith(message)
    else:
        assert out == ""


def test_jobs_0_uses_every_core_and_json_abbreviations_still_mean_json() -> None:
    """`-j 0` runs one worker per core; `--js` still means `--json`, as before `--jsonl` and `--jobs` existed."""
    folder = FIXTURES / "vertex"
    code, out, _ = run(["replay", "-j", "0", str(folder)])
    assert code == 0 and len(out.splitlines()) == len(list(folder.glob("*.sse"))) > 1
    code, out, _ = run(["replay", "--js", str(FIXTURES / "vertex" / "parallel-tool-calls.sse")])
    assert code == 0 and json.loads(out)["object"] == "chat.completion"


def test_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    """A folder with no .sse file is a usage error, not a silent success."""
    code, out, err = run(["replay", "--jsonl", str(tmp_path)])
    assert (code, out) == (2, "") and "no .sse files" in err


def test_unreadable_file_is_a_record_and_exit_2(tmp_path: Path) -> None:
    """A file that cannot be read is a record of its own (outcome "unreadable"), and the worst code."""
    assert replay_file(str(tmp_path)) == [
        {
            "file": str(tmp_path),
            "response": 0,
            "outcome": "unreadable",
            "error": "cannot read: Is a directory",
        }
    ]


def test_exit_code_is_the_worst_outcome() -> None:
    """0 when all complete; otherwise unreadable (2) > malformed (5) > incomplete (4) > server error (3)."""
    assert exit_code(["complete", "complete"]) == 0
    assert exit_code(["complete", "ServerError"]) == 3
    assert exit_code(["ServerError", "IncompleteStreamError"]) == 4
    assert exit_code(["IncompleteStreamError", "MalformedChunkError", "ServerError"]) == 5
    assert exit_code(["MalformedChunkError", "unreadable"]) == 2
    assert exit_code(["AssemblerStateError"]) == 5


def test_progress_bar_redraws_one_line() -> None:
    """The bar redraws in place and counts files and failed responses; it shows only on a terminal, for many files."""
    stream = io.StringIO()
    bar = Progress(stream, 2)
    bar.step([{"outcome": "complete"}])
    bar.step([{"outcome": "ServerError"}, {"outcome": "complete"}])
    bar.close()
    assert stream.getvalue() == (
        "\r[" + "#" * 15 + "." * 15 + "] 1/2 files, 0 failed responses"
        "\r[" + "#" * 30 + "] 2/2 files, 1 failed responses\n"
    )
    assert not wants_progress(io.StringIO(), 100)
    assert not wants_progress(None, 100)


def test_replay_file_is_picklable_and_runs_in_a_pool() -> None:
    """The README's ProcessPoolExecutor example: replay_file pickles and gives the same records in a pool."""
    assert pickle.loads(pickle.dumps(replay_file)) is replay_file
    # --- README example (kept in step with the README's "Archives" section) ---
    files = sorted(str(p) for p in FIXTURES.rglob("*.sse"))
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = [record for records in pool.map(replay_file, files) for record in records]
    failed = [r for r in results if r["outcome"] != "complete"]
    # --- end ---
    assert results == [record for file in files for record in replay_file(file)]
    assert {r["file"].rsplit("/", 2)[-2] for r in failed} == {"failures"}


def test_a_folder_takes_suffixes_in_any_case(tmp_path: Path) -> None:
    """`A.SSE` in a folder is a recording, as `serve`, `recordings()` and a file named alone take it
    (hostile review: the folder said "no .sse files")."""
    (tmp_path / "A.SSE").write_bytes((FIXTURES / "vertex" / "parallel-tool-calls.sse").read_bytes())
    (tmp_path / "notes.txt").write_text("not a recording")
    assert expand([str(tmp_path)]) == [str(tmp_path / "A.SSE")]
    code, out, _ = run(["replay", str(tmp_path)])
    assert code == 0 and "A.SSE #0: complete" in out
