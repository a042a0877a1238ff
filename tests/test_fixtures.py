"""Every stream in fixtures/ assembles to the completion written beside it, whole and in any pieces."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import chunkwise
from chunkwise._cli import main

from helpers import FIXTURES, cut_at

STREAMS = sorted(FIXTURES.rglob("*.sse"))
ERRORS = {
    "ServerError": chunkwise.ServerError,
    "IncompleteStreamError": chunkwise.IncompleteStreamError,
    "MalformedChunkError": chunkwise.MalformedChunkError,
}


def expected_for(stream: Path) -> dict[str, Any]:
    return json.loads(stream.with_name(stream.name.replace(".sse", ".expected.json")).read_text())


def options(spec: dict[str, Any]) -> dict[str, Any]:
    args = spec["args"]
    return {"thought_tag": args[args.index("--thought-tag") + 1]} if "--thought-tag" in args else {}


def test_fixture_set_is_complete() -> None:
    """Each documented Vertex example is transcribed and every stream has its expected completion."""
    names = {p.relative_to(FIXTURES).as_posix() for p in STREAMS}
    assert {
        "vertex/parallel-tool-calls.sse",
        "vertex/thought-tag-marker-think.sse",
        "vertex/image-generation.sse",
    } <= names
    for stream in STREAMS:
        assert stream.with_name(stream.name.replace(".sse", ".expected.json")).is_file(), stream


@pytest.mark.parametrize("stream", STREAMS, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_replay_json_gives_expected_completion(stream: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`chunkwise replay --json` prints the expected completion and exits with the expected code."""
    spec = expected_for(stream)
    code = main(["replay", "--json", *spec["args"], str(stream)])
    out, err = capsys.readouterr()
    assert code == spec["exit_code"]
    assert json.loads(out) == spec["completion"]
    if code:
        assert err.startswith(f"chunkwise: {spec['error']}:") and err.count("\n") == 1
    else:
        assert err == ""


@pytest.mark.parametrize("stream", STREAMS, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_library_result_independent_of_byte_splits(stream: Path) -> None:
    """The same completion (or the same error and partial) whatever the pieces the bytes arrive in."""
    spec = expected_for(stream)
    body = stream.read_bytes()
    rng = random.Random(stream.name)
    for attempt in range(20):
        cuts = sorted(rng.sample(range(1, len(body)), k=min(len(body) - 1, attempt * 7)))
        pieces = cut_at(body, cuts)
        if spec["exit_code"] == 0:
            got = chunkwise.assemble(pieces, **options(spec))
        else:
            with pytest.raises(ERRORS[spec["error"]]) as info:
                chunkwise.assemble(pieces, **options(spec))
            assert info.value.partial is not None
            got = info.value.partial
        assert got.model_dump(mode="json", exclude_none=True) == spec["completion"]


def test_arguments_cut_by_length_report_the_error() -> None:
    """The `length` fixture's invalid arguments are kept verbatim and reported on the call."""
    completion = chunkwise.assemble((FIXTURES / "openai-style" / "arguments-cut-by-length.sse").read_bytes())
    call = (completion.message.tool_calls or [])[0]
    assert call.arguments_error is not None and call.function.arguments.endswith('"hel')
