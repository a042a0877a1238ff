"""Coverage-guided fuzzing of ``StreamAssembler`` with atheris (not collected by pytest).

Run::

    python3 -m pip install atheris
    mkdir -p /tmp/cw-corpus && python3 tests/fuzz_atheris.py --seed-corpus /tmp/cw-corpus
    python3 tests/fuzz_atheris.py --write-dict /tmp/cw.dict
    python3 tests/fuzz_atheris.py -dict=/tmp/cw.dict -max_len=4096 -atheris_runs=200000 \\
        -max_total_time=1800 /tmp/cw-corpus

    # replay one crash, or minimize it:
    python3 tests/fuzz_atheris.py crash-<sha1>
    python3 tests/fuzz_atheris.py -minimize_crash=1 -runs=20000 -exact_artifact_path=/tmp/min crash-<sha1>

``--seed-corpus DIR`` copies every ``fixtures/**/*.sse`` of this repository and of the shared
recordings (``../shared/fixtures/real`` or ``$CHUNKWISE_SHARED/fixtures/real``) into DIR, cut to
their whole frames within 4000 bytes, three times each behind different header bytes (see the
layout below). Never point it inside the repository.

Input layout (read with ``atheris.FuzzedDataProvider``, front to back):

* byte 0, the configuration: bits 0-1 the ``thought_tag`` (None, "think", "thought", None);
  bit 2 ``require_done``; bit 3 small limits (``max_line_length=300, max_depth=4,
  max_choices=3, max_tool_calls=3``); bits 4-7 ``n``, how many piece-size bytes follow;
* ``n`` bytes, each a piece size (byte + 1, used cyclically over the body); ``n == 0`` feeds the
  body in one piece;
* the rest: the SSE body.

Per input, the harness checks the README's promises:

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
4. the ``feed`` path: each ``data:`` payload that ``json.loads`` reads as an object is fed as a dict
   and as JSON text, to two assemblers whose outcomes must agree; when the body is nothing but
   ``data: <json object>`` frames split by blank lines, they must agree with the bytes path too.

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

import json
import os
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["chunkwise"]):
    import chunkwise
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
    )

TAGS = (None, "think", "thought", None)
SMALL = {"max_line_length": 300, "max_depth": 4, "max_choices": 3, "max_tool_calls": 3}

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
                value = json.loads(payload)
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


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    config = fdp.ConsumeInt(1)
    sizes = [b + 1 for b in fdp.ConsumeBytes((config >> 4) & 0xF)]
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    options = {"thought_tag": TAGS[config & 3], "require_done": bool(config & 4)}
    if config & 8:
        options.update(SMALL)

    pieces = []
    if sizes:
        at = i = 0
        while at < len(body):
            pieces.append(body[at : at + sizes[i % len(sizes)]])
            at += sizes[i % len(sizes)]
            i += 1
    else:
        pieces = [body]

    cut, cut_events, error, completion = _run_bytes(pieces, options, full=True)
    whole, whole_events, _, _ = _run_bytes([body], options, snapshots=False)
    assert cut == whole, f"split changes the outcome:\n cut   {cut}\n whole {whole}"
    assert _merged(cut_events) == _merged(whole_events), "split changes the events"
    result = completion if error is None else error.partial
    _check_events(cut_events, result, error is None)
    quiet, _, _, _ = _run_bytes(pieces, options, emit=False, snapshots=False)
    assert quiet == cut, f"emit_events=False changes the outcome:\n {quiet}\n {cut}"
    try:
        done = chunkwise.assemble(
            body, thought_tag=options["thought_tag"], require_done=options["require_done"]
        )
        via = ("ok", _dump(done, False))
    except ChunkwiseError as exc:
        via = _outcome(exc, None, False)
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
                dicts, **{k: v for k, v in options.items() if k in ("thought_tag", "require_done")}
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


def _seed(directory: str) -> None:
    root = Path(__file__).resolve().parent.parent
    shared = Path(os.environ.get("CHUNKWISE_SHARED", root.parent / "shared"))
    out = Path(directory)
    assert root not in out.resolve().parents, "keep the corpus outside the repository"
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for base in (root / "fixtures", shared / "fixtures" / "real"):
        for path in sorted(base.rglob("*.sse")):
            name = str(path.relative_to(base)).replace("/", "__")
            body = path.read_bytes()
            if len(body) > 4000:  # keep whole frames under a -max_len of 4096
                end = body.rfind(b"\n\n", 0, 4000)
                body = body[: end + 2] if end > 0 else body[:4000]
            # whole, no tag; "think" in pieces of 7 and 3 bytes; "thought", small limits, 1-byte pieces
            for prefix in (b"\x00", b"\x21\x06\x02", b"\x1a\x00"):
                (out / f"{name}.{prefix.hex()}").write_bytes(prefix + body)
                count += 1
    print(f"{count} seeds in {out}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seed-corpus":
        _seed(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--write-dict":
        Path(sys.argv[2]).write_text("".join(_dict_line(t) + "\n" for t in DICTIONARY))
    else:
        atheris.Setup(sys.argv, TestOneInput)
        atheris.Fuzz()
