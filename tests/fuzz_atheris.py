"""Coverage-guided fuzzing of the byte entry point with atheris (not collected by pytest).

CI runs it for about a minute (``.ci/run``)::

    python3 tests/fuzz_atheris.py --ci 55

which seeds a temporary corpus from ``fixtures/**/*.sse`` and a few small synthetic streams, fuzzes
for 55 seconds (``-max_total_time``) under ``-rss_limit_mb``, prints the executions and the corpus
size, and on a failure exits non-zero after printing the input (path and base64) and the command
that replays it. By hand, for longer::

    python3 -m pip install atheris     # wheels: Linux x86_64 only
    python3 tests/fuzz_atheris.py --seed-corpus /tmp/cw-corpus   # add --with-shared for ../shared's recordings
    python3 tests/fuzz_atheris.py --write-dict /tmp/cw.dict
    python3 tests/fuzz_atheris.py -dict=/tmp/cw.dict -max_len=4096 -rss_limit_mb=512 \\
        -max_total_time=1800 /tmp/cw-corpus

    # replay one crash, or minimize it:
    python3 tests/fuzz_atheris.py crash-<sha1>
    python3 tests/fuzz_atheris.py -minimize_crash=1 -runs=20000 -exact_artifact_path=/tmp/min crash-<sha1>

``--seed-corpus DIR`` writes every ``fixtures/**/*.sse`` of this repository (cut to its whole frames
within 4000 bytes) and the synthetic ``SEEDS`` below into DIR, three times each behind different
header bytes (see the layout below); ``--with-shared`` adds ``$CHUNKWISE_SHARED/fixtures/real``
(default ``../shared``). DIR must be outside the repository: nothing is written into the checkout.

Input layout (front to back):

* byte 0, the configuration: bits 0-1 the ``thought_tag`` (None, "think", "thought", and "think"
  with ``thought_open``);
  bit 2 ``require_done``; bit 3 small limits (``max_line_length=300, max_depth=4,
  max_choices=3, max_tool_calls=3``); bits 4-7 ``n``, how many piece-size bytes follow;
* ``n`` bytes, each a piece size (byte + 1, used cyclically over the body); ``n == 0`` cuts the
  body in two halves;
* the rest: the SSE body.

The invariant: chunkwise returns events and a completion, or raises a ``ChunkwiseError`` subclass;
anything else escaping (``KeyError``, ``RecursionError``, ``MemoryError``, ...) is a failure, and so
is a broken promise below. ``TestOneInput`` turns every such failure into an ``AssertionError`` naming
it, which atheris reports as a crash. Per input, the harness checks the README's promises:

1. ``feed_bytes`` in the drawn pieces, then ``close()``, then ``.completion``: only
   ``ChunkwiseError`` subclasses escape; every error has a ``.partial`` that dumps
   (``model_dump_json()``, ``json.dumps(model_dump(mode="json"))`` as UTF-8, and
   ``to_request_message()`` of each choice); a completion dumps likewise; ``snapshot`` dumps
   along the way (about 4 times per input); after a failure every call raises
   ``AssemblerStateError`` and ``completion`` re-raises the error.
2. split invariance: the outcome (completion dump, or error type, message, position and partial
   dump) and the events (adjacent deltas merged) are the same when the body is fed whole, and
   through ``assemble(body)``.
3. events agree with the result: per choice and per call the deltas add up to the ``*Done`` value
   and to the completion (or the partial), no delta follows its ``*Done``, each call starts once
   before its deltas, and on a complete stream every ``ToolCallStarted`` has one ``ToolCallDone``.
4. the ``feed`` path: each ``data:`` payload that is a JSON object (``json.loads`` without ``NaN`` and
   ``Infinity``, which are not JSON) is fed as a dict and as JSON text, to two assemblers whose outcomes must agree; when the body is nothing but
   ``data: <json object>`` frames split by blank lines, they must agree with the bytes path too.
5. bounded memory: ``tracemalloc``'s peak over the byte entry point (``feed_bytes`` in the pieces
   without events, then ``assemble(body)``, each with its result's dump) stays within
   ``MEMORY_BASE + MEMORY_PER_BYTE * len(input)`` (1 MiB + 512 bytes per input byte). The widest
   legitimate fan-out measured is about 440 bytes per input byte (128 choices of ``{"index":N}``,
   250 tool calls of ``{"index":N}``: a few KB of models each) and a fixture costs 10-30 KB in all,
   while anything quadratic on a 4 KB input (``-max_len``) needs far more than the 3 MiB allowed.
   tracemalloc is per input, exact and deterministic (a failure replays); it sees Python's
   allocations only, so libFuzzer's ``-rss_limit_mb`` (the whole process, checked once a second)
   backs it for native memory and for growth across inputs (a leak). ``-malloc_limit_mb`` is not
   used: libFuzzer enforces it through sanitizer malloc hooks, which a stock CPython does not have.
   Every input is traced for the first ``TRACE_ALL`` inputs of a process (CI's minute, and every
   replay, is all of them); after that one input in ``TRACE_SOME`` (chosen by its hash, so the same
   ones each time). Why: each ``tracemalloc.start()``/``stop()`` pair leaks native memory in
   CPython 3.11 (measured here: about 5 KB a cycle on these inputs, none without tracing), which
   took a by-hand run to the RSS limit after about 95,000 inputs; tracing all the time instead
   makes every input three times slower.

The dictionary (``--write-dict FILE`` writes it; libFuzzer syntax, one quoted token a line):
``\\ud800``, ``\\udc00``, ``\\ud83d\\ude00``, ``"\\ud83d"``, ``"\\ude00"``, a 40-digit and a
64-digit run (libFuzzer ignores words over 64 bytes), ``[[[[[[[[``, ``{"a":{"a":{"a":``,
``NaN``, ``Infinity``, ``-Infinity``, ``1e999``, ``retry: ``, ``event: error``, ``data: ``,
``data: [DONE]``, ``id: ``, ``: keep-alive``,
``"finish_reason":"stop"``, ``"finish_reason":"tool_calls"``, ``"tool_calls"``, ``"custom"``,
``"type":"custom"``, ``"input"``, ``"function_call"``, ``"function"``, ``"arguments"``,
``"name"``, ``"annotations"``, ``"extra_content"``, ``"google"``, ``"thought":true``,
``"thought_signature"``, ``"reasoning_details"``, ``"reasoning.text"``, ``"reasoning_content"``,
``"reasoning"``, ``"refusal"``, ``"logprobs"``, ``"audio"``, ``"usage"``, ``"error"``,
``"choices"``, ``"delta"``, ``"content"``, ``"index"``, ``"id"``, ``"role"``, ``"obfuscation"``,
``<think>``, ``</think>``, ``<thought>``, ``</thought>``, ``\\r``, ``\\r\\n``, ``\\n\\n``,
``\\xff``, ``\\xef\\xbb\\xbf`` (BOM), ``\\xf0\\x9f\\x98\\x80`` (a 4-byte character),
``[{"error":{"code":499}}]``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
import zlib
from pathlib import Path

try:
    import atheris
except ImportError:  # tests/test_fuzz_harness.py checks the harness without it; fuzzing needs it
    atheris = None

# Instrument chunkwise (for coverage) only in the fuzzing process itself.
_MODES = ("--ci", "--seed-corpus", "--write-dict")
_FUZZING = atheris is not None and __name__ == "__main__" and sys.argv[1:2] not in [[m] for m in _MODES]

with atheris.instrument_imports(include=["chunkwise"]) if _FUZZING else contextlib.nullcontext():
    import chunkwise

    # The package loads its modules on first use: load them all here, under instrumentation.
    for _name in chunkwise.__all__:
        getattr(chunkwise, _name)
    from chunkwise import (
        AssemblerStateError,
        ChoiceFinished,
        ChunkwiseError,
        ContentDelta,
        ContentDone,
        FunctionCallArgumentsDelta,
        FunctionCallDone,
        IncompleteStreamError,
        ReasoningDelta,
        ReasoningDone,
        RefusalDelta,
        RefusalDone,
        ToolCallArgumentsDelta,
        ToolCallDone,
        ToolCallStarted,
        _shapes,
    )

ROOT = Path(__file__).resolve().parent.parent
TAGS = (None, "think", "thought", "think")  # the last with thought_open: begins inside the block
SMALL = {"max_line_length": 300, "max_depth": 4, "max_choices": 3, "max_tool_calls": 3}
MAX_LEN = 4096  # -max_len: every seed fits (see _seeds)

# The memory bound of one input (promise 5), in bytes of tracemalloc peak.
MEMORY_BASE = 1 << 20
MEMORY_PER_BYTE = 512
# The whole process (-rss_limit_mb): the interpreter, pydantic and chunkwise take about 80 MB.
RSS_LIMIT_MB = 512
TRACE_ALL = 20_000
TRACE_SOME = 16
# Where the largest share of the memory bound seen so far is written (the CI summary prints it).
_MEMORY_STATS = os.environ.get("CHUNKWISE_FUZZ_MEMORY_STATS")
_memory_high = 0.0
_traced = 0

# Small streams written here, beside the fixtures, for what the fixtures do not start from.
SEEDS = {
    "empty": b"",
    "done-only": b"data: [DONE]\n\n",
    "minimal": b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},'
    b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
    "tool-call": b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function",'
    b'"function":{"name":"f","arguments":"{\\"a\\":"}}]}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},'
    b'"finish_reason":"tool_calls"}]}\n\n',
    "think-tag": b'data: {"choices":[{"delta":{"content":"<think>hm</think>ok"},"finish_reason":"stop"}]}\n\n',
    "event-error": b'event: error\ndata: {"error":{"message":"overloaded","code":503}}\n\n',
    "raw-error-line": b'[{"error":{"code":499,"message":"cancelled","status":"CANCELLED"}}]\n',
    "bom-crlf-fields": b'\xef\xbb\xbf: keep-alive\r\nretry: 10\r\nid: 1\r\ndata: {"choices":[{"delta":'
    b'{"content":"\\ud83d\\ude00"},"finish_reason":"stop"}]}\r\n\r\n',
}
# Header bytes (layout above): whole halves, no tag; "think" in pieces of 7 and 3 bytes; "thought",
# small limits, 1-byte pieces.
SEED_HEADERS = (b"\x00", b"\x21\x06\x02", b"\x1a\x00")

DICTIONARY = [
    b"\\ud800",
    b"\\udc00",
    b"\\ud83d\\ude00",
    b'"\\ud83d"',
    b'"\\ude00"',
    b"1" * 40,
    b"9" * 64,
    b"[[[[[[[[",
    b'{"a":{"a":{"a":',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"retry: ",
    b"event: error",
    b"data: ",
    b"data: [DONE]",
    b"id: ",
    b": keep-alive",
    b'"finish_reason":"stop"',
    b'"finish_reason":"tool_calls"',
    b'"tool_calls"',
    b'"custom"',
    b'"type":"custom"',
    b'"input"',
    b'"function_call"',
    b'"function"',
    b'"arguments"',
    b'"name"',
    b'"annotations"',
    b'"extra_content"',
    b'"google"',
    b'"thought":true',
    b'"thought_signature"',
    b'"reasoning_details"',
    b'"reasoning.text"',
    b'"reasoning_content"',
    b'"reasoning"',
    b'"refusal"',
    b'"logprobs"',
    b'"audio"',
    b'"usage"',
    b'"error"',
    b'"choices"',
    b'"delta"',
    b'"content"',
    b'"index"',
    b'"id"',
    b'"role"',
    b'"obfuscation"',
    b"<think>",
    b"</think>",
    b"<thought>",
    b"</thought>",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xf0\x9f\x98\x80",
    b'[{"error":{"code":499}}]',
]


def _dict_line(token: bytes) -> str:
    return (
        '"'
        + "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in token)
        + '"'
    )


# ------------------------------------------------------------------ promise checks


def _dumps_utf8(value):
    # ensure_ascii=False, then UTF-8: a lone surrogate cannot hide behind a \\udXXX escape.
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _dump(completion, full: bool = True) -> str:
    """Every dump the README promises (``full``); returns the canonical one for comparisons."""
    text = completion.model_dump_json()
    text.encode("utf-8")
    if full:
        _check_dumps(completion)
    return f"{text}|done={completion.done_received}|replaced={completion.replaced_characters}"


def _check_dumps(completion) -> None:
    _dumps_utf8(completion.model_dump(mode="json"))
    _dumps_utf8(completion.model_dump(exclude_none=True))
    for position in range(len(completion.choices)):
        _dumps_utf8(completion.to_request_message(position))


def _outcome(error, completion, full=True):
    if error is None:
        return ("ok", _dump(completion, full))
    assert isinstance(error, ChunkwiseError), type(error)
    assert not isinstance(error, AssemblerStateError), f"first failure is a state error: {error!r}"
    assert error.partial is not None, f"{type(error).__name__} without a partial: {error}"
    out = (type(error).__name__, str(error), getattr(error, "position", None), _dump(error.partial, full))
    if isinstance(error, IncompleteStreamError):
        out += (tuple(error.unfinished_choices), error.done_received)
    return out


def _merged(events):
    """Adjacent deltas of one field joined: what must not depend on the cuts (§11.4)."""
    out = []
    for event in events:
        if (
            out
            and type(event) is type(out[-1])
            and hasattr(event, "delta")
            and getattr(event, "call", None) == getattr(out[-1], "call", None)
            and event.choice == out[-1].choice
        ):
            prev = out.pop()
            kwargs = {f: getattr(prev, f) for f in prev.__slots__}
            kwargs["delta"] = prev.delta + event.delta
            event = type(event)(**kwargs)
        out.append(event)
    return [repr(e) for e in out]


def _answer_text(message):
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(
        p["text"]
        for p in content
        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
    )


def _check_events(events, result, complete):
    """Deltas add up to their *Done and to the result; no delta after its *Done; calls paired."""
    text: dict = {}
    done: dict = {}
    started: dict = {}
    call_done: dict = {}
    finished: set = set()
    for event in events:
        kind = type(event)
        if kind in (
            ContentDelta,
            ReasoningDelta,
            RefusalDelta,
            ToolCallArgumentsDelta,
            FunctionCallArgumentsDelta,
        ):
            key = (kind.__name__, event.choice, getattr(event, "call", None))
            assert key not in done, f"{key} delta after its Done: {event!r}"
            assert event.delta, f"empty delta {event!r}"
            if kind is ToolCallArgumentsDelta:
                assert (event.choice, event.call) in started, f"arguments before ToolCallStarted: {event!r}"
            text[key] = text.get(key, "") + event.delta
        elif kind is ContentDone:
            key = ("ContentDelta", event.choice, None)
            assert key not in done, f"second ContentDone {event!r}"
            done[key] = event.content
        elif kind is ReasoningDone:
            key = ("ReasoningDelta", event.choice, None)
            assert key not in done, f"second ReasoningDone {event!r}"
            done[key] = event.reasoning
        elif kind is RefusalDone:
            key = ("RefusalDelta", event.choice, None)
            assert key not in done, f"second RefusalDone {event!r}"
            done[key] = event.refusal
        elif kind is FunctionCallDone:
            key = ("FunctionCallArgumentsDelta", event.choice, None)
            assert key not in done, f"second FunctionCallDone {event!r}"
            done[key] = event.arguments
        elif kind is ToolCallStarted:
            key = (event.choice, event.call)
            assert key not in started, f"call started twice {event!r}"
            started[key] = event
        elif kind is ToolCallDone:
            key = (event.choice, event.call)
            assert key in started, f"ToolCallDone without ToolCallStarted {event!r}"
            assert key not in call_done, f"call done twice {event!r}"
            call_done[key] = event
            done[("ToolCallArgumentsDelta", event.choice, event.call)] = event.arguments
        elif kind is ChoiceFinished:
            assert event.choice not in finished, f"two ChoiceFinished {event!r}"
            finished.add(event.choice)
    for key, value in done.items():
        assert text.get(key, "") == value, f"deltas {text.get(key, '')!r} != Done {value!r} for {key}"
    if complete:
        missing = set(started) - set(call_done)
        assert not missing, f"ToolCallStarted without ToolCallDone on a complete stream: {missing}"
    if result is None:
        return
    by_index = {c.index: c for c in result.choices}
    for (name, choice, call), value in text.items():
        message = by_index[choice].message
        if name == "ContentDelta":
            held = _answer_text(message)
        elif name == "ReasoningDelta":
            held = message.reasoning_content or ""
        elif name == "RefusalDelta":
            held = message.refusal or ""
        elif name == "FunctionCallArgumentsDelta":
            held = message.function_call.arguments
        else:
            tc = message.tool_calls[call]
            held = tc.function.arguments if tc.function is not None else tc.custom.input
        assert held == value, f"deltas {value!r} != result {held!r} for {(name, choice, call)}"
    for choice, call in started:
        tool_calls = by_index[choice].message.tool_calls or []
        assert call < len(tool_calls), f"started call {call} missing from the result"


def _raised(call):
    try:
        call()
    except ChunkwiseError as exc:
        return exc
    return None


def _after_failure(assembler, error):
    for attempt in (lambda: assembler.feed_bytes(b"x"), lambda: assembler.feed({}), assembler.close):
        late = _raised(attempt)
        assert type(late) is AssemblerStateError, f"a failed assembler gave {late!r}"
        assert late.partial is not None and late.cause is error
    again = _raised(lambda: assembler.completion)
    assert again is error, f"completion raised {again!r}, not the original {error!r}"
    assembler.snapshot.model_dump_json()


def _run_bytes(pieces, options, emit=True, snapshots=True, full=False):
    assembler = chunkwise.StreamAssembler(emit_events=emit, **options)
    events = []
    error = completion = None
    try:
        every = max(1, len(pieces) // 4)  # a few snapshots per input keeps runs linear
        for number, piece in enumerate(pieces):
            events += assembler.feed_bytes(piece)
            if snapshots and number % every == 0:
                snap = assembler.snapshot
                snap.model_dump_json()
                _dumps_utf8(snap.model_dump(mode="json"))
        events += assembler.close()
        completion = assembler.completion
    except ChunkwiseError as exc:
        error = exc
        events += exc.events
        if full:
            _after_failure(assembler, error)
    return _outcome(error, completion, full), events, error, completion


def _run_feed(chunks, options, full=True):
    assembler = chunkwise.StreamAssembler(**options)
    events = []
    error = completion = None
    try:
        for chunk in chunks:
            events += assembler.feed(chunk)
        events += assembler.close()
        completion = assembler.completion
    except ChunkwiseError as exc:
        error = exc
        events += exc.events
    if error is None:
        return ("ok", _dump(completion, full)), events, completion
    _outcome(error, None, full)  # the promises on the error and its partial
    return (type(error).__name__, _dump(error.partial, False)), events, error.partial


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# `json.loads` reads NaN and Infinity; as text they are not JSON and the whole payload is malformed,
# while a dict holding float("nan") is a mapping with one bad value, refused where it enters (after
# whatever the chunk brought before it, behaviour.md 11.6). Such a text is not a dict payload here.
_strict_json = json.JSONDecoder(parse_constant=_not_json).decode


def _payloads(body: bytes):
    """(dict payloads, JSON texts, whether the body is nothing but `data: {json}` frames)."""
    dicts, texts, pure = [], [], True
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return [], [], False
    if "\r" in text or text.startswith("\ufeff"):
        pure = False
    for frame in text.split("\n\n"):
        if not frame.strip("\n"):
            continue
        lines = frame.strip("\n").split("\n")
        for line in lines:
            if not line.startswith("data:"):
                pure = False
                continue
            payload = line[5:]
            payload = payload[1:] if payload.startswith(" ") else payload
            try:
                value = _strict_json(payload)
            except (ValueError, RecursionError):
                value = None
            if type(value) is dict:
                dicts.append(value)
                texts.append(payload)
            else:
                pure = False
        if len(lines) != 1:
            pure = False
    return dicts, texts, pure and bool(dicts)


def _parse(data: bytes):
    """(options, pieces, body) of one input (the layout in the docstring)."""
    config = data[0] if data else 0
    sizes = [b + 1 for b in data[1 : 1 + (config >> 4)]]
    body = data[1 + (config >> 4) :]
    options = {"thought_tag": TAGS[config & 3], "require_done": bool(config & 4)}
    if config & 3 == 3:
        options["thought_open"] = True
    if config & 8:
        options.update(SMALL)
    if sizes:
        pieces = []
        at = i = 0
        while at < len(body):
            pieces.append(body[at : at + sizes[i % len(sizes)]])
            at += sizes[i % len(sizes)]
            i += 1
    else:
        pieces = [body[: len(body) // 2], body[len(body) // 2 :]]
    return options, pieces, body


def _byte_entry(body, pieces, options):
    """The byte entry point as a caller meets it: feed_bytes without events, and assemble(body)."""
    quiet, _, _, _ = _run_bytes(pieces, options, emit=False, snapshots=False)
    try:
        done = chunkwise.assemble(
            body,
            thought_tag=options["thought_tag"],
            require_done=options["require_done"],
            thought_open=options.get("thought_open", False),
        )
        via = ("ok", _dump(done, False))
    except ChunkwiseError as exc:
        via = _outcome(exc, None, False)
    return quiet, via


def _traced_peak(run):
    """``run()`` and the peak of Python's allocations while it ran, above what was held before."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        result = run()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if started:
            tracemalloc.stop()
    return result, peak


def _check_memory(peak: int, size: int) -> None:
    global _memory_high
    limit = MEMORY_BASE + MEMORY_PER_BYTE * size
    assert peak <= limit, (
        f"memory: the byte entry point peaked at {peak} bytes for a {size}-byte input "
        f"(bound {MEMORY_BASE} + {MEMORY_PER_BYTE} x {size} = {limit})"
    )
    if _MEMORY_STATS and peak / limit > _memory_high:
        _memory_high = peak / limit
        Path(_MEMORY_STATS).write_text(json.dumps({"peak": peak, "size": size, "limit": limit}))


def check_input(data: bytes) -> None:
    """Every promise of the docstring on one input; any exception out of here is a failure."""
    options, pieces, body = _parse(data)

    cut, cut_events, error, completion = _run_bytes(pieces, options, full=True)
    whole, whole_events, _, _ = _run_bytes([body], options, snapshots=False)
    assert cut == whole, f"split changes the outcome:\n cut   {cut}\n whole {whole}"
    assert _merged(cut_events) == _merged(whole_events), "split changes the events"
    # The bytes path's shapes (made after 16 payloads as shipped, so rarely in a fuzz input) made
    # from the first payload on: the same outcome and the very same events.
    first, _shapes._FIRST = _shapes._FIRST, 0
    try:
        eager, eager_events, _, _ = _run_bytes(pieces, options, snapshots=False)
    finally:
        _shapes._FIRST = first
    assert eager == cut, f"shapes change the outcome:\n shapes {eager}\n none   {cut}"
    assert eager_events == cut_events, "shapes change the events"
    result = completion if error is None else error.partial
    _check_events(cut_events, result, error is None)
    global _traced
    if _traced < TRACE_ALL or zlib.crc32(data) % TRACE_SOME == 0:
        _traced += 1
        (quiet, via), peak = _traced_peak(lambda: _byte_entry(body, pieces, options))
        _check_memory(peak, len(data))
    else:
        quiet, via = _byte_entry(body, pieces, options)
    assert quiet == cut, f"emit_events=False changes the outcome:\n {quiet}\n {cut}"
    if "max_line_length" not in options:
        assert via == cut, f"assemble(body) differs:\n {via}\n {cut}"

    dicts, texts, pure = _payloads(body)
    if dicts:
        by_dict, dict_events, dict_result = _run_feed(dicts, options)
        by_text, _, _ = _run_feed(texts, options, full=False)
        assert by_dict == by_text, f"feed(dict) != feed(text):\n {by_dict}\n {by_text}"
        _check_events(dict_events, dict_result, by_dict[0] == "ok")
        try:
            many = chunkwise.assemble(
                dicts,
                **{k: v for k, v in options.items() if k in ("thought_tag", "require_done", "thought_open")},
            )
            many_out = ("ok", _dump(many, False))
        except ChunkwiseError as exc:
            many_out = (type(exc).__name__, _dump(exc.partial, False))
        if "max_depth" not in options:
            assert many_out == by_dict, f"assemble(dicts) != feed(dict):\n {many_out}\n {by_dict}"
        if pure and "max_line_length" not in options:  # the line limit binds bytes only
            bytes_side = (cut[0], cut[1] if cut[0] == "ok" else cut[3])
            assert (by_dict[0], by_dict[1]) == bytes_side, (
                f"feed(dict) != feed_bytes on a plain data: body:\n {by_dict}\n {cut}"
            )


def TestOneInput(data: bytes) -> None:
    """The fuzz target: ``check_input``, with anything but a broken promise named as the escape it is."""
    try:
        check_input(data)
    except AssertionError:
        raise
    except Exception as exc:
        # atheris prints only the outermost traceback: carry the escaped one in the message.
        where = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        raise AssertionError(
            f"{type(exc).__name__} escaped (only ChunkwiseError may leave chunkwise): {exc!r}\n{where}"
        ) from exc


# ------------------------------------------------------------------ corpus, CI


def _seeds(with_shared: bool = False):
    """(name, input) of every seed: fixtures/**/*.sse and SEEDS, each behind every SEED_HEADERS."""
    bodies = []
    bases = [ROOT / "fixtures"]
    if with_shared:
        bases.append(Path(os.environ.get("CHUNKWISE_SHARED", ROOT.parent / "shared")) / "fixtures" / "real")
    for base in bases:
        for path in sorted(base.rglob("*.sse")):
            body = path.read_bytes()
            if len(body) > MAX_LEN - 96:  # whole frames, under -max_len with any header
                end = body.rfind(b"\n\n", 0, MAX_LEN - 96)
                body = body[: end + 2] if end > 0 else body[: MAX_LEN - 96]
            bodies.append((str(path.relative_to(base)).replace("/", "__"), body))
    bodies += [(f"synthetic__{name}", body) for name, body in SEEDS.items()]
    for name, body in bodies:
        for header in SEED_HEADERS:
            yield f"{name}.{header.hex()}", header + body


def _seed(directory: Path, with_shared: bool = False) -> int:
    out = directory.resolve()
    assert out != ROOT and ROOT not in out.parents, "keep the corpus outside the repository"
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, data in _seeds(with_shared):
        (out / name).write_bytes(data)
        count += 1
    return count


def _atheris_expected() -> bool:
    """Whether atheris has a wheel here (pyproject's dev extra installs it only then)."""
    return (
        sys.platform == "linux"
        and platform.machine() == "x86_64"
        and (3, 10) <= sys.version_info[:2] <= (3, 14)
    )


def fuzz_summary(log: str) -> dict:
    """Executions, corpus, coverage and RSS from libFuzzer's output (run with -print_final_stats=1)."""
    statuses = re.findall(r"^#(\d+)\s+\w+\s.*$", log, re.MULTILINE)
    lines = [line for line in log.splitlines() if re.match(r"#\d+\s", line)]
    last = lines[-1] if lines else ""

    def number(pattern: str, text: str = last):
        found = re.findall(pattern, text, re.MULTILINE)
        return int(found[-1]) if found else None

    corpus = re.search(r"\bcorp: (\d+)/(\S+)", last)
    return {
        "execs": number(r"^stat::number_of_executed_units: *(\d+)", log)
        or number(r"^Done (\d+) runs", log)
        or (int(statuses[-1]) if statuses else None),
        "cov": number(r"\bcov: (\d+)"),
        "ft": number(r"\bft: (\d+)"),
        "corpus": int(corpus.group(1)) if corpus else None,
        "corpus_bytes": corpus.group(2) if corpus else None,
        "rss_mb": number(r"\brss: (\d+)Mb"),
        "peak_rss_mb": number(r"^stat::peak_rss_mb: *(\d+)", log),
        "new_units": number(r"^stat::new_units_added: *(\d+)", log),
    }


def report_artifact(path: Path, script: str = "tests/fuzz_atheris.py") -> str:
    """A failing input, printable and reproducible without the temp directory."""
    data = path.read_bytes()
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f"failing input: {path} ({len(data)} bytes)\n"
        f"base64: {b64}\n"
        f"reproduce: python3 {script} {shlex.quote(str(path))}\n"
        f"       or: echo {b64} | base64 -d > /tmp/chunkwise-crash && python3 {script} /tmp/chunkwise-crash\n"
    )


def _ci(seconds: int) -> int:
    """The CI step: a bounded run from a temporary corpus; non-zero on a failure or no atheris."""
    if atheris is None:
        if _atheris_expected():
            print(
                "ERROR: fuzz: atheris cannot be imported, though it has a wheel for this platform and the "
                'dev extra installs it: run python3 -m pip install -e ".[dev]"',
                file=sys.stderr,
            )
            return 1
        print(
            f"WARNING: fuzz: SKIPPED, atheris has no wheel for {sys.platform} {platform.machine()} "
            f"Python {sys.version_info[0]}.{sys.version_info[1]} (Linux x86_64, Python 3.10-3.14 only)",
            file=sys.stderr,
        )
        return 0
    work = Path(tempfile.mkdtemp(prefix="chunkwise-fuzz-"))
    seeds, corpus, artifacts = work / "seeds", work / "corpus", work / "artifacts"
    corpus.mkdir()
    artifacts.mkdir()
    count = _seed(seeds)
    dictionary = work / "chunkwise.dict"
    dictionary.write_text("".join(_dict_line(t) + "\n" for t in DICTIONARY))
    memory_stats = work / "memory.json"
    script = Path(__file__).resolve()
    shown = os.path.relpath(script) if Path.cwd().resolve() == ROOT else str(script)
    command = [
        sys.executable,
        str(script),
        f"-max_total_time={seconds}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-max_len={MAX_LEN}",
        "-timeout=60",
        f"-dict={dictionary}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        str(corpus),
        str(seeds),
    ]
    print(f"fuzz: {count} seeds in {seeds}\n+ {shlex.join(command)}", flush=True)
    started = time.monotonic()
    log_path = work / "fuzz.log"
    with log_path.open("wb") as log:
        code = subprocess.call(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CHUNKWISE_FUZZ_MEMORY_STATS": str(memory_stats)},
        )
    elapsed = time.monotonic() - started
    log = log_path.read_text(encoding="utf-8", errors="replace")
    stats = fuzz_summary(log)
    found = sorted(artifacts.iterdir())
    slow = [path for path in found if path.name.startswith("slow-unit-")]
    failures = [path for path in found if path not in slow]
    print(
        f"fuzz: {stats['execs']} executions in {elapsed:.0f} s; corpus {stats['corpus']} inputs "
        f"({stats['corpus_bytes']}; {count} seeds given, {stats['new_units']} new units); coverage "
        f"{stats['cov']} edges, {stats['ft']} features; RSS {stats['rss_mb']} MB at the end, peak "
        f"{stats['peak_rss_mb']} MB (limit {RSS_LIMIT_MB} MB)"
    )
    if memory_stats.exists():
        high = json.loads(memory_stats.read_text())
        print(
            f"fuzz: largest tracemalloc peak against its bound: {high['peak']} bytes for a {high['size']}-byte "
            f"input ({100 * high['peak'] / high['limit']:.0f}% of {MEMORY_BASE} + {MEMORY_PER_BYTE} x size)"
        )
    for path in slow:  # libFuzzer's -report_slow_units: worth a look, not a failure on a shared machine
        print(f"fuzz: WARNING: a slow input\n{report_artifact(path, shown)}")
    if code != 0 or failures or stats["execs"] is None:
        print("\n".join(["--- the end of libFuzzer's output ---", *log.splitlines()[-80:], "---"]))
        print(f"FUZZ FAILURE: the fuzzer exited with {code}; its files are kept in {work}")
        for path in failures:
            print(report_artifact(path, shown))
        sys.stdout.flush()
        return code or 1
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ci"] and len(sys.argv) == 3:
        sys.exit(_ci(int(sys.argv[2])))
    elif sys.argv[1:2] == ["--seed-corpus"] and len(sys.argv) in (3, 4):
        shared = sys.argv[3:] == ["--with-shared"]
        print(f"{_seed(Path(sys.argv[2]), shared)} seeds in {sys.argv[2]}")
    elif sys.argv[1:2] == ["--write-dict"] and len(sys.argv) == 3:
        Path(sys.argv[2]).write_text("".join(_dict_line(t) + "\n" for t in DICTIONARY))
    elif atheris is None:
        sys.exit("fuzz_atheris.py: atheris is not installed (python3 -m pip install atheris)")
    else:
        atheris.Setup(sys.argv, TestOneInput)
        atheris.Fuzz()
