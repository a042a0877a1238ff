"""`chunkwise replay`: output modes, exit codes, and no traceback for any input or environment."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import threading
import tracemalloc
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkwise import (
    ChatCompletion,
    Choice,
    ChunkwiseError,
    CustomCall,
    Event,
    FunctionCall,
    Message,
    StreamAssembler,
    ToolCall,
    Usage,
)
from chunkwise._cli import main
from chunkwise._events import ToolCallDone
from chunkwise._output import Output, _event_json, _plain, completion_json, render, to_json

from helpers import FIXTURES, chunk, delta_choice, sse

VERTEX = FIXTURES / "vertex" / "parallel-tool-calls.sse"
MODES = [[], ["--json"], ["--events"]]
UNICODE = "café ☕ 𝄞"  # one character each from latin-1, the BMP and beyond it


def run(argv: list[str]) -> tuple[int, str, str]:
    """`main(argv)` in-process, stdout a real byte stream; its bytes must be UTF-8."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    out.flush()
    buffer = out.buffer
    assert isinstance(buffer, io.BytesIO)
    return code, buffer.getvalue().decode("utf-8"), err.getvalue()


def replay(*args: str) -> tuple[int, str, str]:
    return run(["replay", *args])


def cli(*args: str, redirect: str = "", **options: Any) -> subprocess.CompletedProcess[bytes]:
    """`python -m chunkwise._cli replay ARGS` in a subprocess, under `sh` when `redirect` closes or
    reroutes one of its descriptors (`0<&-`, `>&-`, ...)."""
    command = [sys.executable, "-m", "chunkwise._cli", "replay", *args]
    if redirect:
        command = ["sh", "-c", f'exec "$@" {redirect}', "sh", *command]
    options.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(command, stderr=subprocess.PIPE, timeout=60, check=False, **options)


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def one_json_object(out: bytes | str) -> dict[str, Any]:
    text = out.decode("utf-8") if isinstance(out, bytes) else out
    value = json.loads(text)  # raises unless the whole text is one JSON value
    assert isinstance(value, dict)
    return value


def json_lines(out: bytes | str) -> list[dict[str, Any]]:
    text = out.decode("utf-8") if isinstance(out, bytes) else out
    return [json.loads(line) for line in text.splitlines()]


def nested(depth: int) -> list[Any]:
    """A list nested `depth` deep, built without recursion."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
def unicode_stream(tmp_path: Path) -> Path:
    path = tmp_path / "unicode.sse"
    path.write_bytes(
        sse(
            chunk(delta_choice(content=UNICODE)),
            chunk(delta_choice(finish="stop")),
        )
    )
    return path


# ---------------------------------------------------------------- output modes


def test_readable_view() -> None:
    """The default view shows each call's parsed arguments, its signature, finish reason and usage."""
    code, out, _ = replay(str(VERTEX))
    assert code == 0
    assert "finish_reason: tool_calls" in out
    assert (
        "tool call 1: get_current_weather  id=function-call-c855348a-459a-46a4-a8ad-aa0a4e7c3563  (thought signature: yes)"
        in out
    )
    assert '{"location": "New Delhi, India", "unit": "celsius"}' in out
    assert "(thought signature: no)" in out
    assert "usage: prompt 27, completion 45, total 576, reasoning 504" in out


def test_readable_view_sets_thinking_apart() -> None:
    """Thinking is shown under its own heading, never inside the answer."""
    code, out, _ = replay("--thought-tag", "think", str(FIXTURES / "vertex" / "thought-tag-marker-think.sse"))
    assert code == 0
    thinking, answer = out.split("  answer:")
    assert "  thinking:" in thinking and "which is prime." in thinking
    assert "Yes. n = 2" in answer and "<think>" not in out


def test_events_one_json_object_per_line() -> None:
    """`--events` prints every event as one JSON line, ending with StreamEnded."""
    code, out, _ = replay("--events", str(VERTEX))
    lines = json_lines(out)
    assert code == 0
    assert [e["type"] for e in lines].count("ToolCallStarted") == 2
    assert lines[-1] == {"type": "StreamEnded", "complete": True, "done_received": True}


def test_event_fields_never_collide_with_the_event_name() -> None:
    """No event has a field called `type`, so `--events` can put the class name under that key."""
    for kind in typing.get_args(Event):
        assert "type" not in {field.name for field in dataclasses.fields(kind)}, kind


def test_events_carry_the_call_type(tmp_path: Path) -> None:
    """A tool call's kind (`call_type`: function or custom) is written beside the event's name."""
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    path = tmp_path / "call.sse"
    path.write_bytes(sse(chunk(delta_choice(tool_calls=[call])), chunk(delta_choice(finish="tool_calls"))))
    code, out, _ = replay("--events", str(path))
    started = json_lines(out)[0]
    assert code == 0 and started["type"] == "ToolCallStarted" and started["call_type"] == "function"


def test_text_only_stdout_gets_ascii_json(unicode_stream: Path) -> None:
    """A stdout without a byte layer (io.StringIO) gets ASCII-only JSON that reads back the same."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["replay", "--json", str(unicode_stream)]) == 0
    assert out.getvalue().isascii()
    assert one_json_object(out.getvalue())["choices"][0]["message"]["content"] == UNICODE


def test_lone_surrogate_is_written_as_its_json_escape() -> None:
    """A lone surrogate (valid in JSON text, no UTF-8 form) is written as the `\\ud800` escape."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    Output(stream).json(to_json({"text": "a\ud800b"}, ascii_only=False))
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    written = buffer.getvalue().decode("utf-8")  # strict: valid UTF-8
    assert written == '{"text": "a\\ud800b"}' and json.loads(written) == {"text": "a\ud800b"}


def test_lone_surrogate_in_the_stream_gives_valid_output(tmp_path: Path) -> None:
    """A stream carrying `\\ud800` gives valid UTF-8 JSON in both machine modes."""
    path = tmp_path / "surrogate.sse"
    path.write_bytes(sse(chunk(delta_choice(content="a\ud800b")), chunk(delta_choice(finish="stop"))))
    code, out, _ = replay("--json", str(path))
    assert code == 0
    assert one_json_object(out)["choices"][0]["message"]["content"] in ("a\ud800b", "a\ufffdb")
    code, out, _ = replay("--events", str(path))
    assert code == 0 and json_lines(out)[0]["delta"] in ("a\ud800b", "a\ufffdb")


# ---------------------------------------------------------------- stream outcomes


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
@pytest.mark.parametrize("mode", MODES)
def test_failure_exit_codes_and_one_line_reason(name: str, code: int, error: str, mode: list[str]) -> None:
    """A failed stream prints the partial result as usual, one line naming the error, and a distinct code."""
    got, out, err = replay(*mode, str(FIXTURES / name))
    assert got == code
    assert err.startswith("chunkwise: " + error) and err.count("\n") == 1
    assert out.strip()
    if mode == ["--json"]:
        one_json_object(out)
    if mode == ["--events"]:
        assert all(json_lines(out))


def test_server_message_with_newlines_stays_one_line(tmp_path: Path) -> None:
    """A server's multi-line error message is written on one stderr line, its newlines as `\\n`."""
    path = tmp_path / "error.sse"
    path.write_bytes(sse({"error": {"message": "first\nsecond", "code": 500}}, done=False))
    code, out, err = replay("--json", str(path))
    assert code == 3 and err.count("\n") == 1 and "first\\nsecond" in err
    one_json_object(out)


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while reading ends with exit code 130 and a one-line reason, no traceback."""

    def interrupted(name: str | None) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("chunkwise._cli._pieces", interrupted)
    code, _, err = replay("--json", str(VERTEX))
    assert (code, err) == (130, "chunkwise: interrupted\n")


# ---------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "--json", "--bogus"], "unrecognized arguments: --bogus"),
        (["replay", "--json", "--events"], "argument --events: not allowed with argument --json"),
        (["replay", "--js", "--thought-tag"], "argument --thought-tag: expected one argument"),
        (["--json"], "the following arguments are required: command"),
        (["replay", "--json", "--thought-tag", "<think>", str(VERTEX)], "thought_tag must be a tag name"),
        (["replay", "--json", "missing.sse"], "cannot read missing.sse: No such file or directory"),
        (["replay", "--json", str(FIXTURES)], f"cannot read {FIXTURES}: Is a directory"),
    ],
)
def test_usage_errors_with_json_print_one_json_error(argv: list[str], message: str) -> None:
    """With --json, a bad command line or unreadable file still prints one JSON object, and exits 2."""
    code, out, err = run(argv)
    assert code == 2
    error = one_json_object(out)["error"]
    assert error["type"] == "UsageError" and error["message"].startswith(message)
    assert err == f"chunkwise: {error['message']}\n"


def test_usage_errors_without_json_keep_argparse_message() -> None:
    """Without --json, a bad command line gets argparse's usage and error lines on stderr, exit 2."""
    code, out, err = replay("--bogus")
    assert (code, out) == (2, "")
    assert err.startswith("usage: chunkwise") and "error: unrecognized arguments: --bogus" in err


def test_unreadable_file_and_bad_tag_are_usage_errors(tmp_path: Path) -> None:
    """A missing file or an impossible tag exits 2 with a message, no traceback."""
    code, out, err = replay(str(tmp_path / "missing.sse"))
    assert (code, out) == (2, "") and "cannot read" in err
    code, _, err = replay("--thought-tag", "<think>", str(VERTEX))
    assert code == 2 and "thought_tag" in err


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_read_error_after_open_is_a_usage_error() -> None:
    """A file that opens but fails to read (/proc/self/mem: EIO) exits 2 with one JSON error object."""
    code, out, err = replay("--json", "/proc/self/mem")
    assert code == 2 and one_json_object(out)["error"]["type"] == "UsageError"
    assert err.startswith("chunkwise: cannot read /proc/self/mem:")


def test_help_returns_0() -> None:
    """`--help` prints the help, exit codes included, and returns 0 instead of raising SystemExit."""
    code, out, _ = replay("--help")
    assert code == 0 and "usage: chunkwise replay" in out and "1 the output could not be written" in out


# ---------------------------------------------------------------- environments (subprocess)


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_json_is_utf8_whatever_the_output_encoding(encoding: str, unicode_stream: Path) -> None:
    """`--json` and `--events` write UTF-8 JSON even when PYTHONIOENCODING names another encoding."""
    proc = cli("--json", str(unicode_stream), env=env(PYTHONIOENCODING=encoding))
    assert proc.returncode == 0, proc.stderr
    assert one_json_object(proc.stdout)["choices"][0]["message"]["content"] == UNICODE
    proc = cli("--events", str(unicode_stream), env=env(PYTHONIOENCODING=encoding))
    assert proc.returncode == 0, proc.stderr
    assert json_lines(proc.stdout)[0] == {"type": "ContentDelta", "choice": 0, "delta": UNICODE}


def test_readable_view_escapes_what_the_terminal_cannot_show(unicode_stream: Path) -> None:
    """The readable view in an ASCII environment writes backslash escapes, not a traceback."""
    proc = cli(str(unicode_stream), env=env(PYTHONIOENCODING="ascii"))
    assert proc.returncode == 0 and proc.stderr == b""
    assert b"| caf\\xe9 \\u2615 \\U0001d11e" in proc.stdout


@pytest.mark.parametrize("mode", MODES)
def test_closed_stdin_is_a_usage_error(mode: list[str]) -> None:
    """`replay -` with stdin closed (`0<&-`) exits 2, with one JSON error object under --json."""
    proc = cli(*mode, "-", redirect="0<&-")
    assert proc.returncode == 2
    assert proc.stderr == b"chunkwise: cannot read stdin: it is closed\n"
    if mode == ["--json"]:
        assert one_json_object(proc.stdout)["error"]["type"] == "UsageError"
    else:
        assert proc.stdout == b""


@pytest.mark.parametrize(
    ("redirect", "reason"),
    [
        (">&-", "stdout is closed"),
        ("1</dev/null", "Bad file descriptor"),  # open, but not for writing
        pytest.param(
            ">/dev/full",
            "No space left on device",
            marks=pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full"),
        ),
    ],
)
@pytest.mark.parametrize("mode", [*MODES, ["--help"]])
def test_unwritable_stdout_exits_1(redirect: str, reason: str, mode: list[str]) -> None:
    """When stdout refuses the output, the command exits 1 with one line naming why, no traceback."""
    proc = cli(*mode, str(VERTEX), redirect=redirect, stdout=None)
    assert proc.returncode == 1
    assert proc.stderr == f"chunkwise: cannot write the output: {reason}\n".encode()


@pytest.mark.parametrize(
    "redirect",
    [
        "2>&-",
        pytest.param(
            "2>/dev/full", marks=pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
        ),
    ],
)
def test_unwritable_stderr_keeps_the_exit_code(redirect: str) -> None:
    """With nowhere to write the reason, a failed stream still exits with its own code and its output."""
    proc = cli("--json", str(FIXTURES / "failures" / "truncated.sse"), redirect=redirect)
    assert proc.returncode == 4
    assert one_json_object(proc.stdout)["id"] == "chatcmpl-trunc"


def test_reader_leaving_early_exits_0(tmp_path: Path) -> None:
    """`replay --events ... | head`: the reader closing the pipe ends the command quietly with 0."""
    path = tmp_path / "long.sse"
    path.write_bytes(sse(*[chunk(delta_choice(content="word ")) for _ in range(20_000)]))
    command = [sys.executable, "-m", "chunkwise._cli", "replay", "--events", str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(100)
        proc.stdout.close()
        assert proc.wait(timeout=60) == 0
        assert proc.stderr.read() == b""


def test_events_are_printed_as_the_input_arrives() -> None:
    """`--events` on a pipe prints a chunk's events before the rest of the stream has been written."""
    command = [sys.executable, "-m", "chunkwise._cli", "replay", "--events", "-"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(sse(chunk(delta_choice(content="early")), done=False))
        proc.stdin.flush()
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=30)
        alive = reader.is_alive()
        proc.stdin.write(sse(chunk(delta_choice(finish="stop"))))
        proc.stdin.close()
        reader.join(timeout=30)
        assert not alive, "no event before the input ended"
        assert json.loads(lines[0]) == {"type": "ContentDelta", "choice": 0, "delta": "early"}
        assert proc.wait(timeout=60) == 0


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
    """`python -m chunkwise._cli`, fed junk on stdin: one JSON object, a one-line reason, a stream code."""
    proc = cli("--json", "-", input=body)
    assert proc.returncode in (4, 5)
    assert b"Traceback" not in proc.stderr and proc.stderr.count(b"\n") == 1
    one_json_object(proc.stdout)


def test_installed_entry_point_replays_the_bundled_default() -> None:
    """`chunkwise replay` (the console script) with no file replays the documented Vertex stream."""
    proc = subprocess.run(["chunkwise", "replay", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    expected = json.loads(VERTEX.with_name("parallel-tool-calls.expected.json").read_text())
    assert json.loads(proc.stdout) == expected["completion"]


# ---------------------------------------------------------------- values JSON cannot carry


@pytest.mark.parametrize(
    ("parsed", "shown"),
    [
        (nested(100_000), "<nested deeper than 200 levels, not shown>"),
        (10**5000, "<integer of about 5001 digits, too long to print>"),
        (float("nan"), None),
        ({"ok": 1, "bad": float("inf")}, {"ok": 1, "bad": None}),
    ],
    ids=["deep", "huge-int", "nan", "inf"],  # pytest's own id would be str() of a 5001-digit int
)
def test_unwritable_event_value_is_replaced_in_place(parsed: Any, shown: Any) -> None:
    """An event value JSON cannot carry becomes a placeholder (null for NaN); the other fields stay."""
    event = ToolCallDone(
        choice=0,
        call=0,
        id="c",
        name="f",
        arguments="(as received)",
        parsed=parsed,
        error=None,
        has_thought_signature=False,
    )
    line = json.loads(_event_json(event, ascii_only=False))
    assert line["arguments"] == "(as received)" and line["name"] == "f"
    value = line["parsed"]
    while isinstance(value, list):  # the nested case: walk down to the placeholder
        value = value[0]
    assert value == shown


def test_completion_too_deep_for_pydantic_is_still_one_object() -> None:
    """A completion pydantic cannot dump (nesting past its limit) is written with the deep part replaced."""
    completion = ChatCompletion.model_validate(
        {"id": "x", "choices": [{"index": 0, "message": {"content": "hi"}}], "deep": nested(300)}
    )
    value = json.loads(completion_json(completion, ascii_only=False))
    assert value["id"] == "x" and value["choices"][0]["message"]["content"] == "hi"
    assert "not shown" in json.dumps(value["deep"])


def test_deep_tool_arguments_end_to_end(tmp_path: Path) -> None:
    """Deeply nested tool arguments: every mode ends with a documented code and valid output."""
    arguments = "[" * 5000 + "]" * 5000
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    path = tmp_path / "deep.sse"
    path.write_bytes(sse(chunk(delta_choice(tool_calls=[call])), chunk(delta_choice(finish="tool_calls"))))
    for mode in MODES:
        code, out, err = replay(*mode, str(path))
        assert code in (0, 5) and "Traceback" not in err
        if mode == ["--json"]:
            one_json_object(out)
        if mode == ["--events"]:
            assert json_lines(out)


def test_readable_view_survives_unprintable_values() -> None:
    """The readable view shows a placeholder for a too-long integer and raw text for too-deep arguments."""
    deep = "[" * 100_000 + "]" * 100_000
    call = ToolCall(id="c", function=FunctionCall(name="f", arguments=deep))
    completion = ChatCompletion(
        choices=[Choice(index=0, message=Message(tool_calls=[call]))], usage=Usage(prompt_tokens=10**5000)
    )
    out = io.StringIO()
    render(completion, out)
    assert "usage: prompt <integer of about 5001 digits>" in out.getvalue()
    assert f"arguments: {deep}" in out.getvalue()


def test_readable_view_shows_custom_and_legacy_calls() -> None:
    """A custom tool call shows its free-form input; a legacy `function_call` its parsed arguments."""
    custom = ToolCall(id="c1", type="custom", custom=CustomCall(name="grep", input="needle *.py"))
    message = Message(tool_calls=[custom], function_call=FunctionCall(name="old", arguments='{"a": 1}'))
    out = io.StringIO()
    render(ChatCompletion(choices=[Choice(index=0, message=message)]), out)
    assert "tool call 1 (custom): grep  id=c1" in out.getvalue()
    assert "    input: needle *.py\n" in out.getvalue()
    assert 'function call (legacy function_call): old\n    arguments: {"a": 1}\n' in out.getvalue()


def completions_of_every_fixture() -> list[ChatCompletion]:
    completions = []
    for path in sorted(FIXTURES.rglob("*.sse")):
        assembler = StreamAssembler(thought_tag="think")
        try:
            assembler.feed_bytes(path.read_bytes())
            assembler.close()
            completions.append(assembler.completion)
        except ChunkwiseError as exc:  # a failing fixture still has a partial completion
            completions.append(exc.partial if exc.partial is not None else assembler.snapshot)
    return completions


def test_last_resort_dump_matches_pydantic() -> None:
    """The fallback serializer writes every fixture's completion exactly as model_dump does."""
    for completion in completions_of_every_fixture():
        assert _plain(completion) == completion.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------- memory and totality


@pytest.fixture(scope="module")
def large_stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 20 MB of a text stream framed like OpenAI's: a few characters of content per chunk."""
    frame = chunk(
        delta_choice(content=" word"),
        id="chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012",
        created=1_700_000_000,
        model="gpt-4o-2024-08-06",
        system_fingerprint="fp_0123456789",
    )
    frame["choices"][0].update(logprobs=None, finish_reason=None)
    body = sse(frame, done=False)
    path = tmp_path_factory.mktemp("large") / "large.sse"
    path.write_bytes(body * (20_000_000 // len(body)) + sse(chunk(delta_choice(finish="stop"))))
    return path


@pytest.mark.parametrize("mode", [[], ["--events"]])
def test_memory_stays_far_below_the_file_size(
    mode: list[str], large_stream: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The input is fed in pieces: peak memory is a fraction of the file, not a multiple of it."""
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        monkeypatch.setattr(sys, "stdout", devnull)
        tracemalloc.start()
        try:
            code = main(["replay", *mode, str(large_stream)])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert code == 0
    assert peak < large_stream.stat().st_size / 2


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_tool_call = st.fixed_dictionaries(
    {"index": st.integers(0, 2)},
    optional={
        "id": st.text(max_size=4),
        "function": st.fixed_dictionaries(
            {}, optional={"name": st.text(max_size=4), "arguments": st.text(max_size=8) | st.just('{"a": 1}')}
        ),
    },
)
_delta = st.fixed_dictionaries(
    {},
    optional={
        "role": st.just("assistant"),
        "content": st.text(max_size=8) | _json_values,
        "reasoning_content": st.text(max_size=8),
        "tool_calls": st.lists(_tool_call, max_size=2),
    },
)
_chunk = st.fixed_dictionaries(
    {
        "choices": st.lists(
            st.fixed_dictionaries(
                {"index": st.integers(0, 2), "delta": _delta},
                optional={"finish_reason": st.sampled_from([None, "stop", "tool_calls"])},
            ),
            max_size=2,
        )
    },
    optional={"id": st.text(max_size=4), "usage": _json_values, "error": _json_values, "extra": _json_values},
)
_frames = st.one_of(
    _chunk.map(lambda value: b"data: " + json.dumps(value).encode() + b"\n\n"),
    st.binary(max_size=24),
    st.sampled_from([b"data: [DONE]\n\n", b"\n", b"\r\n", b"event: error\n", b"data: {\n\n", b": ping\n\n"]),
)


@given(body=st.lists(_frames, max_size=8).map(b"".join))
def test_any_file_gives_one_json_object_and_a_stream_code(
    body: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any bytes, junk or plausible frames, replayed with --json: one JSON object, exit 0/3/4/5."""
    path = tmp_path_factory.getbasetemp() / "property.sse"
    path.write_bytes(body)
    code, out, err = replay("--json", str(path))
    assert code in (0, 3, 4, 5)
    one_json_object(out)
    assert err.count("\n") == (code != 0) and "Traceback" not in err


def test_python_dash_m_chunkwise_is_the_command() -> None:
    """`python -m chunkwise` runs the same command as the console script (it had no `__main__`)."""
    fixture = FIXTURES / "vertex" / "parallel-tool-calls.sse"
    by_module = subprocess.run(
        [sys.executable, "-m", "chunkwise", "replay", str(fixture)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    by_cli = subprocess.run(
        [sys.executable, "-m", "chunkwise._cli", "replay", str(fixture)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_module.returncode == by_cli.returncode == 0
    assert by_module.stdout == by_cli.stdout and by_module.stdout


def test_thought_open_splits_a_stream_that_has_only_the_closing_tag(tmp_path: Path) -> None:
    """`--thought-open` with `--thought-tag`: the content began inside the block the prompt opened;
    without a tag it is a usage error (exit 2), in the single view and for archives alike."""
    body = tmp_path / "r1.sse"
    body.write_bytes(
        b'data: {"choices":[{"index":0,"delta":{"content":"hmm, 2+2"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"</think>4"},"finish_reason":"stop"}]}\n\n'
    )
    code, out, _ = run(["replay", str(body), "--json", "--thought-tag", "think", "--thought-open"])
    message = json.loads(out)["choices"][0]["message"]
    assert code == 0 and (message["reasoning_content"], message["content"]) == ("hmm, 2+2", "4")
    code, out, _ = run(["replay", str(body), "--jsonl", "--thought-tag", "think", "--thought-open"])
    assert code == 0 and json.loads(out)["completion"]["choices"][0]["message"]["content"] == "4"
    for archive in ([], ["--jsonl"]):
        code, _, err = run(["replay", str(body), "--thought-open", *archive])
        assert code == 2 and "--thought-open needs --thought-tag" in err
