"""The result models: what the assembler builds behaves like what pydantic validates."""

from __future__ import annotations

import json

import chunkwise

from helpers import FIXTURES


def test_built_models_equal_validated_ones() -> None:
    """The fast construction gives models equal to `model_validate` of their own dump, and usable as any."""
    body = (FIXTURES / "vertex" / "parallel-tool-calls.sse").read_bytes()
    built = chunkwise.assemble(body)
    validated = chunkwise.ChatCompletion.model_validate({**built.model_dump(), "done_received": True})
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    copy = built.model_copy(deep=True)
    copy.choices[0].message.content = "changed"  # plain assignment works on a built model
    assert built.choices[0].message.content is None
    assert "content" in copy.choices[0].message.model_fields_set


def test_snapshot_is_detached_from_the_stream() -> None:
    """A snapshot does not change when more chunks arrive, and changing it does not change the stream."""
    assembler = chunkwise.StreamAssembler()
    assembler.feed(
        {"choices": [{"index": 0, "delta": {"content": "a", "extra_content": {"google": {"k": "v"}}}}]}
    )
    snapshot = assembler.snapshot
    assert snapshot.message.extra_content is not None
    snapshot.message.extra_content["google"]["k"] = "mutated"
    assembler.feed({"choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": "stop"}]})
    assembler.close()
    assert snapshot.message.content == "a"
    assert assembler.completion.message.content == "ab"
    assert assembler.completion.message.extra_content == {"google": {"k": "v"}}


def test_dump_is_the_non_streaming_shape() -> None:
    """`model_dump(exclude_none=True)` has the keys a non-streaming chat.completion has, stream facts excluded."""
    completion = chunkwise.assemble(
        (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes(), thought_tag="think"
    )
    dump = json.loads(completion.model_dump_json(exclude_none=True))
    assert dump["object"] == "chat.completion"
    assert set(dump["choices"][0]) == {"index", "message", "finish_reason"}
    assert "done_received" not in dump and "thinking_unterminated" not in dump["choices"][0]["message"]
