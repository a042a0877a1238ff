"""One test per rule of docs/behaviour.md (sections 1-11), each named for its rule and citing the quirk it covers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

import chunkwise
from chunkwise import (
    ChoiceFinished,
    ContentDelta,
    IncompleteStreamError,
    MalformedChunkError,
    ReasoningDone,
    ServerError,
    StreamAssembler,
    ToolCallArgumentsDelta,
    ToolCallDone,
    ToolCallStarted,
    UsageReported,
)

from helpers import chunk, delta_choice, of_type, run, sse

# ---------------------------------------------------------------- 1. Input forms


def test_1_input_forms_mapping_json_text_bytes_and_client_objects() -> None:
    """A chunk may come parsed, as JSON text or bytes, or as another client's object (openai-python)."""
    first = chunk(delta_choice(role="assistant", content="a"))
    second = chunk(delta_choice(content="b"))
    third = chunk(delta_choice(content="c"))
    fourth = chunk(delta_choice(content="d", finish="stop"))

    class OpenAIStyleChunk:  # exposes to_dict() like openai-python's ChatCompletionChunk
        def to_dict(self) -> dict[str, Any]:
            return third

    class PydanticStyleChunk:
        def model_dump(self) -> dict[str, Any]:
            return fourth

    completion, _ = run([first, json.dumps(second), OpenAIStyleChunk(), PydanticStyleChunk()])
    assert completion.message.content == "abcd"


def test_1_json_lines_read_chunk_by_chunk_and_space_lines_ignored() -> None:
    """A JSON-lines log (one chunk a line, no SSE framing) read as one block of stray lines could not
    be read; each chunk line is now its own block, whatever the cut. A line of spaces carries
    nothing (hostile review: both failed the stream)."""
    first = chunk(delta_choice(role="assistant", content="Hi"))
    last = chunk(delta_choice(content="!", finish="stop"))
    body = (json.dumps(first) + "\n" + json.dumps(last) + "\n").encode()
    for cut in range(len(body) + 1):
        assembler = StreamAssembler()
        events = assembler.feed_bytes(body[:cut]) + assembler.feed_bytes(body[cut:]) + assembler.close()
        assert assembler.completion.message.content == "Hi!", cut
        assert "".join(e.delta for e in of_type(events, ContentDelta)) == "Hi!"
    error = (
        json.dumps(first) + "\n" + json.dumps({"error": {"code": 500, "message": "boom"}}) + "\n"
    ).encode()
    with pytest.raises(ServerError) as caught:
        chunkwise.assemble(error)
    assert caught.value.partial is not None and caught.value.partial.message.content == "Hi"
    spaced = sse(first, done=False).replace(b"\n\n", b"\n   \n\n", 1) + b" \t \n" + sse(last)
    assert chunkwise.assemble(spaced).message.content == "Hi!"
    with pytest.raises(MalformedChunkError):  # a pretty-printed block that is not an error stays malformed
        chunkwise.assemble(b'{\n  "choices": "x"\n')
    # A JSON line among an event's data lines still follows that event: it jumped ahead of it, even
    # past its `[DONE]` (a review of this rule).
    mixed = b"data: " + json.dumps(first).encode() + b"\n" + json.dumps(last).encode() + b"\n\n"
    assert chunkwise.assemble(mixed).message.content == "Hi!"
    middle = chunk(delta_choice(content=", you"))
    run_of_lines = (
        (b"data: " + json.dumps(first).encode() + b"\n" + json.dumps(middle).encode() + b"\n")
        + json.dumps(last).encode()
        + b"\n\n"
    )
    for cut in range(len(run_of_lines) + 1):  # several chunk lines after a data line: each in order
        assembler = StreamAssembler()
        assembler.feed_bytes(run_of_lines[:cut])
        assembler.feed_bytes(run_of_lines[cut:])
        assembler.close()
        assert assembler.completion.message.content == "Hi, you!", cut
    with pytest.raises(MalformedChunkError, match="after data: \\[DONE\\]"):
        chunkwise.assemble(sse(first, last).rstrip(b"\n") + b"\n" + json.dumps(last).encode() + b"\n\n")


def test_1_input_forms_sse_event_objects() -> None:
    """httpx-sse's ServerSentEvent (`.event`, `.data`) is taken as one SSE event, `event: error` included."""

    @dataclass
    class SSE:  # the shape of httpx_sse.ServerSentEvent
        event: str
        data: str

    completion, _ = run(
        [
            SSE("message", json.dumps(chunk(delta_choice(content="x", finish="stop")))),
            SSE("message", "[DONE]"),
        ]
    )
    assert completion.message.content == "x"
    assert completion.done_received

    assembler = StreamAssembler()
    with pytest.raises(ServerError) as info:
        assembler.feed(SSE("error", '{"error": {"message": "boom", "code": 500}}'))
    assert info.value.code == 500


def test_1_byte_stream_result_independent_of_splits() -> None:
    """Splits may fall inside a line, inside `\\r\\n`, inside a multi-byte UTF-8 character."""
    body = sse(
        chunk(delta_choice(role="assistant", content="héllo → 世界 🎉")), chunk(delta_choice(finish="stop"))
    )
    body = body.replace(b"\n", b"\r\n")
    whole = chunkwise.assemble(body)
    assembler = StreamAssembler()
    for i in range(len(body)):
        assembler.feed_bytes(body[i : i + 1])
    assembler.close()
    assert assembler.completion == whole
    assert whole.message.content == "héllo → 世界 🎉"


def test_1_done_ends_the_stream_and_is_recorded() -> None:
    """`data: [DONE]` ends the stream; whether it came is recorded on the result."""
    with_done = chunkwise.assemble(sse(chunk(delta_choice(content="a", finish="stop"))))
    without = chunkwise.assemble(sse(chunk(delta_choice(content="a", finish="stop")), done=False))
    assert with_done.done_received and not without.done_received


def test_1_sse_comments_are_keep_alives() -> None:
    """OpenRouter sends `: OPENROUTER PROCESSING` comment lines between events."""
    body = b": OPENROUTER PROCESSING\n\n" + sse(chunk(delta_choice(content="a", finish="stop")))
    assert chunkwise.assemble(body).message.content == "a"


def test_1_event_error_frame_is_a_server_error() -> None:
    """Groq ends a failed stream with `event: error` and `data: {"error": {...}}`."""
    body = sse(chunk(delta_choice(content="partial")), done=False)
    body += b'event: error\ndata: {"error":{"message":"Tool call validation failed","code":"tool_use_failed"}}\n\n'
    with pytest.raises(ServerError) as info:
        chunkwise.assemble(body)
    assert info.value.code == "tool_use_failed"
    assert info.value.partial is not None and info.value.partial.message.content == "partial"


def test_1_error_payload_is_a_server_error() -> None:
    """A `data: {"error": {...}}` payload is an error reported by the server."""
    with pytest.raises(ServerError) as info:
        chunkwise.assemble(sse({"error": {"message": "overloaded", "code": 529}}))
    assert info.value.code == 529 and "overloaded" in str(info.value)


def test_1_raw_error_line_outside_sse_framing_surfaces() -> None:
    """Vertex writes `[{"error": {"code": 499, "status": "CANCELLED"}}]` outside any `data:` line, mid-stream."""
    body = sse(chunk(delta_choice(content="so far")), done=False)
    body += b'[{"error": {"code": 499, "message": "The operation was cancelled.", "status": "CANCELLED"}}]\n'
    with pytest.raises(ServerError) as info:
        chunkwise.assemble(body)
    assert (info.value.code, info.value.status) == (499, "CANCELLED")
    assert info.value.body == [
        {"error": {"code": 499, "message": "The operation was cancelled.", "status": "CANCELLED"}}
    ]
    assert info.value.partial is not None and info.value.partial.message.content == "so far"


# ---------------------------------------------------------------- 2. Envelope


def test_2_envelope_first_non_empty_value_kept() -> None:
    """AI Studio changes `created` between chunks; Azure's first chunk has `id: ""`, `created: 0`; "" fingerprint kept."""
    completion, _ = run(
        [
            {"choices": [], "id": "", "created": 0, "model": "", "object": "", "prompt_filter_results": []},
            chunk(delta_choice(content="a"), id="real", created=5, system_fingerprint=""),
            chunk(delta_choice(content="b", finish="stop"), id="other", created=6, system_fingerprint="fp"),
        ]
    )
    assert (completion.id, completion.created, completion.object) == ("real", 5, "chat.completion")
    assert completion.system_fingerprint == "fp"  # "" gave way to the first non-empty value


def test_2_envelope_empty_system_fingerprint_kept_when_nothing_else_came() -> None:
    """Vertex sends `system_fingerprint: ""` on every chunk; the non-streaming response has "" too."""
    completion, _ = run([chunk(delta_choice(content="a", finish="stop"), system_fingerprint="")])
    assert completion.model_dump(exclude_none=True)["system_fingerprint"] == ""


def test_2_empty_choices_and_choice_without_delta() -> None:
    """Usage-only chunks have `choices: []`; Azure sends a choice with no `delta` at all."""
    completion, _ = run(
        [
            chunk({"index": 0, "finish_reason": None, "content_filter_results": {}}),
            chunk(delta_choice(content="hi", finish="stop")),
            chunk(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
        ]
    )
    assert completion.message.content == "hi" and completion.usage is not None


def test_2_choice_state_keyed_by_index_in_any_order() -> None:
    """n > 1 streams interleave choices, and choice 1 may arrive before choice 0."""
    completion, _ = run(
        [
            chunk(delta_choice(1, content="B1")),
            chunk(delta_choice(0, content="A1")),
            chunk(delta_choice(1, content="B2", finish="stop")),
            chunk(delta_choice(0, content="A2", finish="stop")),
        ]
    )
    assert [(c.index, c.message.content) for c in completion.choices] == [(0, "A1A2"), (1, "B1B2")]


def test_2_unknown_fields_preserved_everywhere() -> None:
    """Azure content_filter_results, Groq x_groq, Perplexity citations, Mistral p (OpenAI obfuscation: §10)."""
    completion, _ = run(
        [
            chunk(
                {
                    "index": 0,
                    "delta": {"content": "a", "channel": "final"},
                    "content_filter_results": {"hate": {"filtered": False}},
                },
                x_groq={"id": "req_1"},
                citations=["https://a"],
                p="abcdef",
                obfuscation="xyz",
            ),
            chunk(delta_choice(content="b", finish="stop"), x_groq={"usage": {"queue_time": 0.1}}),
        ]
    )
    dump = completion.model_dump(exclude_none=True)
    assert dump["x_groq"] == {"id": "req_1", "usage": {"queue_time": 0.1}}  # mappings merge key by key
    assert dump["citations"] == ["https://a"] and dump["p"] == "abcdef"
    assert dump["choices"][0]["content_filter_results"] == {"hate": {"filtered": False}}
    assert dump["choices"][0]["message"]["channel"] == "final"


# ---------------------------------------------------------------- 3. Text, refusal, reasoning


def test_3_content_fragments_append() -> None:
    """`delta.content` fragments are appended, in order."""
    completion, events = run(
        [chunk(delta_choice(content=p)) for p in ("Hel", "lo", " ", "world")]
        + [chunk(delta_choice(finish="stop"))]
    )
    assert completion.message.content == "Hello world"
    assert [e.delta for e in of_type(events, ContentDelta)] == ["Hel", "lo", " ", "world"]


def test_3_content_as_typed_parts() -> None:
    """Mistral (magistral) sends content as a list: `thinking` parts are thinking, `text` parts append."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    content=[{"type": "thinking", "thinking": [{"type": "text", "text": "The user asks"}]}]
                )
            ),
            chunk(
                delta_choice(content=[{"type": "thinking", "thinking": [{"type": "text", "text": " 2+2."}]}])
            ),
            chunk(delta_choice(content=[{"type": "text", "text": "2 + 2"}])),
            chunk(delta_choice(content=" = 4", finish="stop")),
        ]
    )
    assert completion.message.reasoning_content == "The user asks 2+2."
    assert completion.message.content == "2 + 2 = 4"


def test_3_non_text_content_parts_kept_in_order() -> None:
    """Parts that are not text (e.g. an image part) are kept, with the text around them."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    completion, _ = run(
        [
            chunk(delta_choice(content="Here ")),
            chunk(delta_choice(content=[{"type": "text", "text": "it is:"}, image])),
            chunk(delta_choice(content="Done.", finish="stop")),
        ]
    )
    assert completion.message.content == [
        {"type": "text", "text": "Here it is:"},
        image,
        {"type": "text", "text": "Done."},
    ]


def test_3_refusal_appended_separately() -> None:
    """OpenAI structured outputs stream a refusal in `delta.refusal`, apart from content."""
    completion, _ = run(
        [chunk(delta_choice(refusal="I'm sorry")), chunk(delta_choice(refusal=", no.", finish="stop"))]
    )
    assert completion.message.refusal == "I'm sorry, no." and completion.message.content is None


def test_3_logprobs_token_lists_concatenated() -> None:
    """`logprobs.content` / `logprobs.refusal` token lists are concatenated in order (OpenAI)."""
    tok = lambda t: {"token": t, "logprob": -0.1, "bytes": None, "top_logprobs": []}  # noqa: E731
    completion, _ = run(
        [
            chunk(
                {
                    "index": 0,
                    "delta": {"content": "Fo"},
                    "logprobs": {"content": [tok("Fo")], "refusal": None},
                }
            ),
            chunk(
                {"index": 0, "delta": {"content": "o"}, "logprobs": {"content": [tok("o")], "refusal": None}}
            ),
            chunk({"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}),
        ]
    )
    assert completion.choices[0].logprobs is not None
    assert [t["token"] for t in completion.choices[0].logprobs.content or []] == ["Fo", "o"]


def test_3_reasoning_content_and_reasoning_are_thinking() -> None:
    """DeepSeek/Qwen/vLLM/xAI send `reasoning_content`; OpenRouter/Groq send `reasoning`; both are thinking."""
    completion, _ = run(
        [
            chunk(delta_choice(reasoning_content="Let me ")),
            chunk(delta_choice(reasoning="think.")),
            chunk(delta_choice(content="4", finish="stop")),
        ]
    )
    assert completion.message.reasoning_content == "Let me think."
    assert completion.message.content == "4"


def test_3_reasoning_sent_under_both_names_not_doubled() -> None:
    """Some vLLM versions send the same text as both `reasoning_content` and `reasoning`."""
    completion, _ = run([chunk(delta_choice(reasoning_content="abc", reasoning="abc", finish="stop"))])
    assert completion.message.reasoning_content == "abc"


def test_3_reasoning_details_with_other_ids_stay_apart() -> None:
    """Two signed parts at the same (type, index) with their own ids are two entries: merging them
    lost the first signature (hostile review); pieces of one entry (same or no id) still merge."""
    enc = lambda data, id_: {"type": "reasoning.encrypted", "data": data, "id": id_, "index": 0}  # noqa: E731
    completion, _ = run(
        [
            chunk(delta_choice(reasoning_details=[enc("SIG_A", "tool_a")])),
            chunk(delta_choice(reasoning_details=[{"type": "reasoning.text", "text": "a", "index": 0}])),
            chunk(
                delta_choice(
                    reasoning_details=[{"type": "reasoning.text", "text": "b", "index": 0, "id": "t"}]
                )
            ),
            chunk(delta_choice(reasoning_details=[enc("SIG_B", "tool_b")], finish="stop")),
        ]
    )
    details = (completion.message.model_extra or {})["reasoning_details"]
    assert [(d["type"], d.get("data") or d.get("text"), d.get("id")) for d in details] == [
        ("reasoning.encrypted", "SIG_A", "tool_a"),
        ("reasoning.text", "ab", "t"),
        ("reasoning.encrypted", "SIG_B", "tool_b"),
    ]


def test_3_openrouter_reasoning_details_kept_in_order() -> None:
    """OpenRouter `reasoning_details`: text pieces of one entry merge; Gemini signatures ride as reasoning.encrypted."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    reasoning="Think",
                    reasoning_details=[
                        {"type": "reasoning.text", "text": "Think", "index": 0, "signature": ""}
                    ],
                )
            ),
            chunk(
                delta_choice(
                    reasoning="ing",
                    reasoning_details=[
                        {"type": "reasoning.text", "text": "ing", "index": 0, "signature": "sig1"}
                    ],
                )
            ),
            chunk(
                delta_choice(
                    reasoning_details=[
                        {
                            "type": "reasoning.encrypted",
                            "data": "ENC",
                            "index": 1,
                            "format": "google-gemini-v1",
                        }
                    ],
                    finish="stop",
                )
            ),
        ]
    )
    details = completion.message.model_dump()["reasoning_details"]
    assert details == [
        {"type": "reasoning.text", "text": "Thinking", "index": 0, "signature": "sig1"},
        {"type": "reasoning.encrypted", "data": "ENC", "index": 1, "format": "google-gemini-v1"},
    ]
    assert completion.to_request_message()["reasoning_details"] == details


def test_3_role_repeated_on_every_chunk_set_once() -> None:
    """Vertex repeats `role` on every chunk (openai-python makes "assistantassistant" of it)."""
    completion, _ = run(
        [
            chunk(delta_choice(role="assistant", content="a")),
            chunk(delta_choice(role="assistant", content="b", finish="stop")),
        ]
    )
    assert completion.message.role == "assistant"


# ---------------------------------------------------------------- 4. Inline thinking


def test_4_thought_tag_split_across_chunks() -> None:
    """Vertex `thought_tag_marker: "think"`: the tag may be cut anywhere (`"<thi"` + `"nk>"`)."""
    pieces = ["<thi", "nk>plan", "ning</th", "ink>\n\nAnswer"]
    completion, _ = run(
        [chunk(delta_choice(content=p)) for p in pieces] + [chunk(delta_choice(finish="stop"))],
        thought_tag="think",
    )
    assert completion.message.reasoning_content == "planning"
    assert completion.message.content == "\n\nAnswer"


def test_4_several_thought_blocks_back_to_back() -> None:
    """Vertex may send several `<think>` blocks one after another."""
    completion, _ = run(
        [chunk(delta_choice(content="<think>a</think><think>b</think>c", finish="stop"))], thought_tag="think"
    )
    assert (completion.message.reasoning_content, completion.message.content) == ("ab", "c")


def test_4_hold_back_is_flushed_at_the_end() -> None:
    """Only a possible tag start is held back, and it is released at the end: "the answer is 5 <" keeps its "<"."""
    completion, events = run(
        [chunk(delta_choice(content="the answer is 5 <")), chunk(delta_choice(finish="stop"))],
        thought_tag="think",
    )
    assert completion.message.content == "the answer is 5 <"
    assert "".join(e.delta for e in of_type(events, ContentDelta)) == "the answer is 5 <"


def test_4_unterminated_thought_block_kept_and_reported() -> None:
    """A thought block still open at the end is kept as thinking and reported as unterminated."""
    completion, events = run(
        [chunk(delta_choice(content="<think>still going", finish="length"))], thought_tag="think"
    )
    assert completion.message.reasoning_content == "still going"
    assert completion.message.thinking_unterminated
    assert of_type(events, ReasoningDone)[0].unterminated


def test_4_gemini_thought_flag_is_authoritative() -> None:
    """Gemini API `include_thoughts`: thought chunks flagged `extra_content.google.thought: true`; `</thought>` opens the first unflagged chunk."""
    flag = {"google": {"thought": True}}
    completion, _ = run(
        [
            chunk(delta_choice(content="<thought>Consider", extra_content=flag)),
            chunk(delta_choice(content=" it.", extra_content=flag)),
            chunk(delta_choice(content="</thought>Result.", finish="stop")),
        ]
    )
    assert completion.message.reasoning_content == "Consider it."
    assert completion.message.content == "Result."
    assert completion.message.extra_content is None  # the per-chunk flag is not a message property


def test_4_without_a_tag_nothing_is_split() -> None:
    """Without a marker Vertex sends thoughts untagged; with no tag configured, content is left alone."""
    completion, _ = run([chunk(delta_choice(content="<think>x</think>y", finish="stop"))])
    assert completion.message.content == "<think>x</think>y"


# ---------------------------------------------------------------- 5. Tool calls


def _call(**fields: Any) -> dict[str, Any]:
    return fields


def test_5_identity_by_id_then_index_then_most_recent() -> None:
    """A new id opens a call; no id -> the call last seen at that index; neither -> the most recent call."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[
                        _call(index=0, id="a", type="function", function={"name": "f", "arguments": "{"})
                    ]
                )
            ),
            chunk(
                delta_choice(
                    tool_calls=[
                        _call(index=1, id="b", type="function", function={"name": "g", "arguments": "["})
                    ]
                )
            ),
            chunk(delta_choice(tool_calls=[_call(function={"arguments": "]"})])),
            chunk(delta_choice(tool_calls=[_call(index=0, function={"arguments": "}"})])),
            chunk(delta_choice(finish="tool_calls")),
        ]
    )
    calls = completion.message.tool_calls or []
    assert [(c.id, c.function.arguments) for c in calls] == [("a", "{}"), ("b", "[]")]


def test_5_vertex_repeated_fields_and_shifting_index() -> None:
    """Vertex `stream_function_call_arguments`: id/name/type/role on every chunk; call A at index 1 then 0, B the reverse."""

    def frag(call_id: str, index: int, args: str) -> dict[str, Any]:
        return chunk(
            delta_choice(
                role="assistant",
                tool_calls=[
                    {
                        "id": call_id,
                        "index": index,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": args},
                    }
                ],
            )
        )

    completion, events = run(
        [
            frag("A", 1, ""),
            frag("A", 0, '{"city":'),
            frag("A", 0, '"Boston"}'),
            frag("B", 0, ""),
            frag("B", 1, '{"city":'),
            frag("B", 1, '"Delhi"}'),
            chunk(delta_choice(finish="tool_calls")),
        ]
    )
    calls = completion.message.tool_calls or []
    assert [(c.id, c.function.name, c.parsed_arguments) for c in calls] == [
        ("A", "get_weather", {"city": "Boston"}),
        ("B", "get_weather", {"city": "Delhi"}),
    ]
    assert len(of_type(events, ToolCallStarted)) == 2


def test_5_gemini_whole_calls_without_index_in_separate_chunks() -> None:
    """Gemini API: each call whole in one chunk, no `index`, parallel calls as separate one-element arrays."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[
                        {
                            "id": "function-call-1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"x":1}'},
                        }
                    ]
                )
            ),
            chunk(
                delta_choice(
                    tool_calls=[
                        {
                            "id": "call_297140",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"x":2}'},
                        }
                    ]
                )
            ),
            chunk(delta_choice(finish="stop")),
        ]
    )
    assert [c.parsed_arguments for c in completion.message.tool_calls or []] == [{"x": 1}, {"x": 2}]


def test_5_parallel_calls_all_at_index_zero() -> None:
    """Several parallel calls all at `index: 0`, told apart by their distinct ids."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[{"index": 0, "id": "jm4owj31", "function": {"name": "a", "arguments": "{}"}}]
                )
            ),
            chunk(
                delta_choice(
                    tool_calls=[{"index": 0, "id": "k9x", "function": {"name": "b", "arguments": "{}"}}]
                )
            ),
            chunk(delta_choice(finish="tool_calls")),
        ]
    )
    assert [c.function.name for c in completion.message.tool_calls or []] == ["a", "b"]


def test_5_arguments_may_begin_with_empty_fragment() -> None:
    """Vertex opens each call with `arguments: ""`."""
    completion, events = run(
        [
            chunk(delta_choice(tool_calls=[{"id": "a", "function": {"name": "f", "arguments": a}}]))
            for a in ("", '{"k"', ": 1}")
        ]
        + [chunk(delta_choice(finish="tool_calls"))]
    )
    assert (
        completion.message.tool_calls is not None
        and completion.message.tool_calls[0].function.arguments == '{"k": 1}'
    )
    assert [e.delta for e in of_type(events, ToolCallArgumentsDelta)] == ['{"k"', ": 1}"]


def test_5_repeated_name_not_appended() -> None:
    """Gemini repeats the name on every chunk; openai-python/pydantic-ai/LangChain produce `get_weatherget_weather`."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[{"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": a}}]
                )
            )
            for a in ("{", "}")
        ]
        + [chunk(delta_choice(finish="tool_calls"))]
    )
    assert (
        completion.message.tool_calls is not None
        and completion.message.tool_calls[0].function.name == "get_weather"
    )


def test_5_name_in_pieces_without_id_appends() -> None:
    """Older OpenAI-compatible servers stream the name in pieces with no id."""
    completion, _ = run(
        [
            chunk(delta_choice(tool_calls=[{"index": 0, "function": {"name": "get_", "arguments": ""}}])),
            chunk(
                delta_choice(tool_calls=[{"index": 0, "function": {"name": "weather", "arguments": "{}"}}])
            ),
            chunk(delta_choice(finish="tool_calls")),
        ]
    )
    assert (
        completion.message.tool_calls is not None
        and completion.message.tool_calls[0].function.name == "get_weather"
    )


def test_5_done_never_inferred_from_parseable_arguments() -> None:
    """Arguments that happen to parse (`{}` then more) do not end a call: done comes with finish_reason."""
    assembler = StreamAssembler()
    events = assembler.feed(
        chunk(
            delta_choice(tool_calls=[{"index": 0, "id": "a", "function": {"name": "f", "arguments": "[1]"}}])
        )
    )
    events += assembler.feed(chunk(delta_choice(tool_calls=[{"index": 0, "function": {"arguments": "[2]"}}])))
    assert not of_type(events, ToolCallDone)
    events = assembler.feed(chunk(delta_choice(finish="tool_calls")))
    done = of_type(events, ToolCallDone)
    assert [(d.arguments, d.parsed, d.error is not None) for d in done] == [("[1][2]", None, True)]


def test_5_metadata_only_fragment_belongs_to_current_call() -> None:
    """Gemini has been seen sending the signature on a trailing delta with only `extra_content`."""
    completion, _ = run(
        [
            chunk(delta_choice(tool_calls=[{"id": "a", "function": {"name": "f", "arguments": "{}"}}])),
            chunk(delta_choice(tool_calls=[{"id": "b", "function": {"name": "g", "arguments": "{}"}}])),
            chunk(delta_choice(tool_calls=[{"extra_content": {"google": {"thought_signature": "SIG"}}}])),
            chunk(delta_choice(finish="tool_calls")),
        ]
    )
    calls = completion.message.tool_calls or []
    assert [c.thought_signature for c in calls] == [None, "SIG"]
    assert len(calls) == 2


def test_5_invalid_argument_json_kept_verbatim_and_reported() -> None:
    """A `length` finish or Vertex's unescaped newlines leave invalid JSON: kept as sent, reported, never replaced."""
    raw = '{"text": "line one\nline two"}'
    completion, events = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[{"id": "a", "function": {"name": "f", "arguments": raw}}], finish="tool_calls"
                )
            )
        ]
    )
    call = (completion.message.tool_calls or [])[0]
    assert call.function.arguments == raw
    assert call.arguments_error is not None and call.parsed_arguments is None
    assert of_type(events, ToolCallDone)[0].error == call.arguments_error
    assert "arguments_error" not in json.dumps(completion.model_dump())


def test_5_finish_reason_stop_with_tool_calls_kept() -> None:
    """The Gemini API may say `stop` although tool calls came: kept as sent."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[{"id": "a", "function": {"name": "f", "arguments": "{}"}}], finish="stop"
                )
            )
        ]
    )
    assert completion.choices[0].finish_reason == "stop" and completion.message.tool_calls


# ---------------------------------------------------------------- 6. Thought signatures and extra_content


def test_6_extra_content_deep_merged_not_doubled_last_non_empty_wins() -> None:
    """`extra_content` merges into the object it belongs to; a repeat is not doubled; a new value replaces."""
    ec = lambda **g: {"google": g}  # noqa: E731
    completion, _ = run(
        [
            chunk(delta_choice(content="a", extra_content=ec(thought_signature="S1"))),
            chunk(delta_choice(content="b", extra_content=ec(thought_signature="S1", other="x"))),
            chunk(delta_choice(content="c", extra_content=ec(thought_signature=""))),
            chunk(
                delta_choice(
                    tool_calls=[
                        {
                            "id": "t",
                            "function": {"name": "f", "arguments": "{}"},
                            "extra_content": ec(thought_signature="T1"),
                        }
                    ]
                )
            ),
            chunk(delta_choice(tool_calls=[{"id": "t", "extra_content": ec(thought_signature="T1")}])),
            chunk(delta_choice(finish="stop", extra_content=ec(thought_signature="S2"))),
        ]
    )
    assert completion.message.extra_content == {"google": {"thought_signature": "S2", "other": "x"}}
    assert (completion.message.tool_calls or [])[0].extra_content == {"google": {"thought_signature": "T1"}}


def test_6_extra_content_on_content_parts_kept_on_the_part() -> None:
    """`extra_content` may sit on a content part; it stays on that part."""
    part = {"type": "text", "text": "hi", "extra_content": {"google": {"thought_signature": "P"}}}
    completion, _ = run([chunk(delta_choice(content=[part], finish="stop"))])
    assert completion.message.content == [part]


def test_6_only_first_parallel_call_signed_each_keeps_its_own() -> None:
    """Gemini signs only the first call of a parallel set, on its first chunk; the second stays unsigned."""
    sig = {"google": {"thought_signature": "FIRST"}}
    completion, events = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[
                        {
                            "id": "a",
                            "index": 0,
                            "extra_content": sig,
                            "function": {"name": "f", "arguments": ""},
                        }
                    ]
                )
            ),
            chunk(
                delta_choice(
                    tool_calls=[{"id": "a", "index": 0, "function": {"name": "f", "arguments": "{}"}}]
                )
            ),
            chunk(
                delta_choice(
                    tool_calls=[{"id": "b", "index": 1, "function": {"name": "f", "arguments": "{}"}}]
                )
            ),
            chunk(delta_choice(finish="tool_calls")),
        ]
    )
    request = completion.to_request_message()
    assert [c.get("extra_content") for c in request["tool_calls"]] == [sig, None]
    assert [d.has_thought_signature for d in of_type(events, ToolCallDone)] == [True, False]
    # Calls only: no `content` key, as the Vertex page writes the message (not `"content": null`).
    assert "content" not in request and request["role"] == "assistant"


def test_6_message_signature_on_final_empty_chunk() -> None:
    """Text answers may carry a message-level signature on a final chunk with empty content."""
    completion, _ = run(
        [
            chunk(delta_choice(content="Olá")),
            chunk(
                delta_choice(content="", extra_content={"google": {"thought_signature": "M"}}, finish="stop")
            ),
        ]
    )
    assert completion.message.thought_signature == "M"
    assert completion.to_request_message() == {
        "role": "assistant",
        "content": "Olá",
        "extra_content": {"google": {"thought_signature": "M"}},
    }


def test_6_vertex_vendor_key_accepted() -> None:
    """`extra_content.vertex` is accepted as well as `extra_content.google`."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[
                        {
                            "id": "a",
                            "function": {"name": "f", "arguments": "{}"},
                            "extra_content": {"vertex": {"thought_signature": "V"}},
                        }
                    ],
                    finish="tool_calls",
                )
            )
        ]
    )
    assert (completion.message.tool_calls or [])[0].thought_signature == "V"


def test_6_message_resendable_as_next_request() -> None:
    """Gemini 3 rejects a follow-up whose calls lack their signatures (400 "missing a thought_signature")."""
    completion = chunkwise.assemble(
        sse(
            chunk(
                delta_choice(
                    role="assistant",
                    content="<think>hmm</think>",
                    tool_calls=[
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a":1}'},
                            "extra_content": {"google": {"thought_signature": "SIG"}},
                        }
                    ],
                )
            ),
            chunk(delta_choice(finish="tool_calls")),
        ),
        thought_tag="think",
    )
    # The answer text was only thinking ("" once split): a message of calls has no content key.
    assert completion.to_request_message() == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "f", "arguments": '{"a":1}'},
                "extra_content": {"google": {"thought_signature": "SIG"}},
            }
        ],
    }


def test_6_a_call_that_came_without_an_id_goes_back_without_one() -> None:
    """`"id": ""` (Gemini API 2025) is no id; it went back as `"id": null`, a wrong type to any server
    that reads the field (hostile review). Calls with ids keep them, in their place."""
    whole = lambda id_, name: {"id": id_, "type": "function", "function": {"name": name, "arguments": "{}"}}  # noqa: E731
    completion, _ = run(
        [
            chunk(delta_choice(tool_calls=[whole("", "a")])),
            chunk(delta_choice(tool_calls=[whole("c2", "b")], finish="tool_calls")),
        ]
    )
    sent = completion.to_request_message()["tool_calls"]
    assert sent == [
        {"type": "function", "function": {"name": "a", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
    ]
    assert list(sent[1]) == ["id", "type", "function"]


def test_6_an_empty_id_from_a_validated_body_goes_back_as_none() -> None:
    """A completion built with `model_validate` from a raw body keeps `"id": ""`; it goes back
    without an id too (a review: only the assembled message left it out)."""
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            }
        ]
    }
    sent = chunkwise.ChatCompletion.model_validate(body).to_request_message()
    assert sent["tool_calls"] == [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]


def test_6_reasoning_goes_back_only_when_asked() -> None:
    """DeepSeek's and Kimi's thinking modes need `reasoning_content` back on a tool-call message
    (hostile review: their next request failed with 400); other servers do not take it."""
    completion, _ = run(
        [
            chunk(delta_choice(role="assistant", reasoning_content="I need the ")),
            chunk(delta_choice(reasoning_content="weather.")),
            chunk(
                delta_choice(
                    tool_calls=[
                        {
                            "id": "c1",
                            "index": 0,
                            "type": "function",
                            "function": {"name": "w", "arguments": "{}"},
                        }
                    ],
                    finish="tool_calls",
                )
            ),
        ]
    )
    assert "reasoning_content" not in completion.to_request_message()
    sent = completion.to_request_message(reasoning=True)
    assert sent["reasoning_content"] == "I need the weather."
    assert sent == {**completion.to_request_message(), "reasoning_content": "I need the weather."}
    assert completion.message.to_request_message(reasoning=True) == sent
    plain, _ = run([chunk(delta_choice(content="hi", finish="stop"))])
    assert "reasoning_content" not in plain.to_request_message(reasoning=True)


# ---------------------------------------------------------------- 7. Images and audio out


def test_7_audio_data_appended_ids_set_once_numbers_never_summed() -> None:
    """Gemini image output comes in `audio.data` (base64) with `audio.extra_content.google.mime_type`."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    audio={
                        "id": "aud_1",
                        "data": "iVBO",
                        "expires_at": 1700000000,
                        "extra_content": {"google": {"mime_type": "image/png"}},
                    }
                )
            ),
            chunk(
                delta_choice(
                    audio={"id": "aud_1", "data": "Rw0K", "expires_at": 1700000000, "transcript": "a cat"}
                )
            ),
            chunk(delta_choice(finish="stop")),
        ]
    )
    audio = completion.message.audio
    assert audio is not None
    assert (audio.id, audio.data, audio.expires_at, audio.transcript) == (
        "aud_1",
        "iVBORw0K",
        1700000000,
        "a cat",
    )
    assert audio.extra_content == {"google": {"mime_type": "image/png"}}


# ---------------------------------------------------------------- 8. Usage and finish


def test_8_usage_is_the_last_non_null_never_summed() -> None:
    """The Gemini API may send usage on every chunk; summing (as several clients do) overcounts."""
    usage = lambda n: {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}  # noqa: E731
    completion, events = run(
        [
            chunk(delta_choice(content="a"), usage=usage(1)),
            chunk(delta_choice(content="b"), usage=usage(2)),
            chunk(delta_choice(finish="stop"), usage=None),
        ]
    )
    assert completion.usage is not None and completion.usage.completion_tokens == 2
    assert len(of_type(events, UsageReported)) == 2


def test_8_usage_nested_fields_kept_totals_not_fixed() -> None:
    """Vertex: total = prompt + completion + reasoning (27 + 45 + 504 = 576); keep it and every nested field as sent."""
    usage = {
        "completion_tokens": 45,
        "completion_tokens_details": {"reasoning_tokens": 504},
        "extra_properties": {"google": {"traffic_type": "PROVISIONED_THROUGHPUT"}},
        "prompt_tokens": 27,
        "prompt_tokens_details": {"cached_tokens": 3},
        "total_tokens": 576,
    }
    completion, _ = run([chunk(delta_choice(content="a", finish="stop"), usage=usage)])
    assert completion.model_dump(exclude_none=True)["usage"] == usage


def test_8_usage_on_trailing_chunk_or_twice() -> None:
    """Usage may come on the finish chunk, on a trailing `choices: []` chunk, or twice (Groq)."""
    u1 = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    u2 = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    completion, _ = run([chunk(delta_choice(content="a", finish="stop"), usage=u1), chunk(usage=u2)])
    assert completion.usage is not None and completion.usage.total_tokens == 3


def test_8_finish_reason_set_once_repeat_not_an_error() -> None:
    """OpenRouter (Minimax) sends `finish_reason: length` on two chunks."""
    completion, events = run(
        [chunk(delta_choice(content="a", finish="length")), chunk(delta_choice(content="", finish="length"))]
    )
    assert completion.choices[0].finish_reason == "length"
    assert len(of_type(events, ChoiceFinished)) == 1


# ---------------------------------------------------------------- 9. Ends and errors


@pytest.mark.parametrize("ending", ["close", "error chunk", "malformed", "interrupt"])
def test_9_every_failure_keeps_the_text_held_back(ending: str) -> None:
    """Text held back because it may begin a tag ("ab<", "x<th") is in the partial whatever ends the
    stream: nothing more will come to decide it, so it is released as `close` releases it."""
    assembler = chunkwise.StreamAssembler(thought_tag="think")
    assembler.feed(chunk(delta_choice(content="<think>ab<")))
    assembler.feed(chunk(delta_choice(index=1, content="x<th")))
    endings: dict[str, Any] = {
        "close": assembler.close,
        "error chunk": lambda: assembler.feed({"error": {"message": "overloaded"}}),
        "malformed": lambda: assembler.feed("{not json"),
    }
    if ending == "interrupt":
        partial = assembler.interrupt("the connection dropped").partial
    else:
        with pytest.raises(chunkwise.ChunkwiseError) as info:
            endings[ending]()
        partial = info.value.partial
    assert partial is not None and assembler.state is chunkwise.State.FAILED
    assert (partial.choices[0].message.reasoning_content, partial.choices[1].message.content) == (
        "ab<",
        "x<th",
    )


def test_9_a_stream_cut_inside_its_last_line_is_incomplete() -> None:
    """Bytes that end inside a payload, a field name or a UTF-8 character: a truncated stream, as a
    dropped connection is, with everything before the cut; a whole line that is not JSON is malformed."""
    chunks = [chunk(delta_choice(content="héllo")), chunk(delta_choice(finish="stop"))]
    body = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks).encode()
    last = body.rindex(b"data:")
    for cut, unfinished in ((last + 8, [0]), (last + 2, [0]), (body.index("é".encode()) + 1, [])):
        with pytest.raises(chunkwise.IncompleteStreamError) as info:
            chunkwise.assemble(body[:cut])
        assert info.value.partial is not None and info.value.unfinished_choices == unfinished
    assert chunkwise.assemble(body[:-2]).choices[0].finish_reason == "stop"  # no blank line: whole
    with pytest.raises(chunkwise.MalformedChunkError):
        chunkwise.assemble(body[:last] + b"data: {oops}\n")  # the line ended: it is what was sent


def test_9_complete_without_done_is_complete_by_default() -> None:
    """Many recordings (vcr cassettes, Qwen, DeepSeek) finish properly with no `[DONE]`."""
    completion = chunkwise.assemble(sse(chunk(delta_choice(content="a", finish="stop")), done=False))
    assert completion.message.content == "a" and not completion.done_received


def test_9_require_done_option() -> None:
    """Requiring `[DONE]` is an option."""
    with pytest.raises(IncompleteStreamError) as info:
        chunkwise.assemble(
            sse(chunk(delta_choice(content="a", finish="stop")), done=False), require_done=True
        )
    assert info.value.partial is not None and info.value.partial.message.content == "a"


def test_9_no_finish_reason_is_incomplete_with_partial() -> None:
    """Snowflake Cortex never sends a finish_reason: reported as incomplete, never hidden, nothing lost."""
    with pytest.raises(IncompleteStreamError) as info:
        chunkwise.assemble(sse(chunk(delta_choice(content="all of it"))))
    assert info.value.unfinished_choices == [0] and info.value.done_received
    assert info.value.partial is not None and info.value.partial.message.content == "all of it"


def test_9_no_choice_at_all_is_incomplete() -> None:
    """A stream with no choice (only usage, or nothing) is not a completion."""
    with pytest.raises(IncompleteStreamError):
        chunkwise.assemble(sse(chunk(usage={"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1})))


def test_9_vllm_error_object_is_a_server_error() -> None:
    """vLLM's error body has no `error` key: `{"object": "error", "message", "type", "code"}`. It was
    merged as a chunk, its fields kept as extras, and the stream went on (a review)."""
    error = {"object": "error", "message": "boom", "type": "BadRequestError", "param": None, "code": 400}
    first = chunk(delta_choice(role="assistant", content="a"))
    for body in (sse(first, error, done=False), sse(first, done=False) + json.dumps(error).encode() + b"\n"):
        with pytest.raises(ServerError, match="server error 400: boom") as caught:
            chunkwise.assemble(body)
        assert caught.value.body == error and caught.value.code == 400
        assert caught.value.partial is not None and caught.value.partial.message.content == "a"
        assert "type" not in (caught.value.partial.model_extra or {})
    with pytest.raises(ServerError, match="400: boom"):
        chunkwise.parse_completion(error)
    # A chunk that says `object: "error"` but brings choices is a chunk (the field is its envelope's).
    odd = chunk(delta_choice(content="b", finish="stop"), object="error")
    assert chunkwise.assemble([odd]).message.content == "b"


def test_9_server_error_carries_body_and_partial() -> None:
    """OpenRouter sends `"error": {"code": 400}` on a chunk that also carries usage: both kept."""
    body = sse(
        chunk(delta_choice(content="so far", finish="length")),
        chunk(
            delta_choice(content=""),
            error={"code": 400, "message": "Token limit reached"},
            usage={"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5},
        ),
    )
    with pytest.raises(ServerError) as info:
        chunkwise.assemble(body)
    error = info.value
    assert error.code == 400 and "Token limit reached" in str(error)
    assert (
        error.partial is not None
        and error.partial.usage is not None
        and error.partial.usage.total_tokens == 5
    )
    assert isinstance(error.events[-1], chunkwise.ServerErrorReceived)


def test_9_malformed_json_names_position_and_raw_text() -> None:
    """Malformed JSON in a `data:` payload raises a typed error with its position and raw text."""
    assembler = StreamAssembler()
    assembler.feed(chunk(delta_choice(content="ok")))
    with pytest.raises(MalformedChunkError) as info:
        assembler.feed('{"choices": [')
    assert info.value.position == 2 and info.value.raw == '{"choices": [' and info.value.offset == 13
    assert info.value.partial is not None and info.value.partial.message.content == "ok"


def test_9_refuses_input_after_an_error() -> None:
    """After an error the assembler refuses further input with a clear error naming the cause."""
    assembler = StreamAssembler()
    with pytest.raises(MalformedChunkError) as first:
        assembler.feed("not json")
    with pytest.raises(chunkwise.AssemblerStateError) as info:
        assembler.feed(chunk(delta_choice(content="x")))
    assert info.value.cause is first.value
    with pytest.raises(MalformedChunkError):
        _ = assembler.completion


def test_9_no_other_exception_type_escapes_for_wrong_shapes() -> None:
    """Wrong types anywhere are malformed chunks, never TypeError/KeyError/AttributeError."""
    bad: list[Any] = [
        5,
        None,
        [1, 2],
        {"choices": "x"},
        {"choices": [5]},
        {"choices": [{"index": "0"}]},
        {"choices": [{"delta": {"content": 5}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": True}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": {}}}]}}]},
        {"usage": {"prompt_tokens": "many"}},
        {"created": "yesterday"},
        object(),
    ]
    for value in bad:
        with pytest.raises(chunkwise.ChunkwiseError):
            StreamAssembler().feed(value)


def test_9_deeply_nested_input_is_a_malformed_chunk() -> None:
    """Even a chunk nested deeper than Python's recursion limit fails as a ChunkwiseError."""
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"x": deep}
    with pytest.raises(MalformedChunkError):
        StreamAssembler().feed({"choices": [{"index": 0, "delta": {"extra_content": deep}}]})
    with pytest.raises(MalformedChunkError):
        chunkwise.assemble(b"data: " + b'{"a":' * 100_000 + b"\n\n")


def test_5_empty_id_is_no_id_whole_calls_one_per_fragment() -> None:
    """Gemini API 2025 sends `"id": ""` and no index on whole calls: each fragment that names a function
    after a finished call opens a new call, never glued onto the previous one."""
    whole = lambda name, args: {"id": "", "type": "function", "function": {"name": name, "arguments": args}}  # noqa: E731
    completion, events = run(
        [
            chunk(delta_choice(role="assistant", tool_calls=[whole("get_weather", '{"city": "Paris"}')])),
            chunk(delta_choice(tool_calls=[whole("get_time", '{"tz": "CET"}')])),
            chunk(
                delta_choice(
                    tool_calls=[{"extra_content": {"google": {"thought_signature": "s"}}}], finish="stop"
                )
            ),
        ]
    )
    calls = completion.message.tool_calls or []
    assert [(c.id, c.function and c.function.name, c.function and c.function.arguments) for c in calls] == [
        (None, "get_weather", '{"city": "Paris"}'),
        (None, "get_time", '{"tz": "CET"}'),
    ]
    # The trailing metadata-only fragment is the most recent call's.
    assert calls[1].thought_signature == "s" and calls[0].thought_signature is None
    assert [(e.call, e.name) for e in of_type(events, ToolCallStarted)] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]


@pytest.mark.parametrize(
    "ids",
    [{}, {"id": ""}, {"index": 0}, {"id": "", "index": 0}, {"index": 3}],
    ids=["no-id-no-index", "empty-id", "index-0", "empty-id-index-0", "index-3"],
)
def test_5_whole_calls_of_other_functions_at_one_index_are_not_glued(ids: dict[str, Any]) -> None:
    """Whole calls without ids at one index (Ollama and others put every parallel call at 0): a
    fragment naming another function, once the call has its name and arguments, opens the next
    call; its name is not dropped and its arguments are not glued on (hostile review)."""

    def whole(name: str, args: str) -> dict[str, Any]:
        return {**ids, "type": "function", "function": {"name": name, "arguments": args}}

    completion, events = run(
        [
            chunk(delta_choice(role="assistant", tool_calls=[whole("get_weather", '{"city":"Paris"}')])),
            chunk(delta_choice(tool_calls=[whole("get_time", '{"tz":"CET"}')])),
            chunk(delta_choice(tool_calls=[whole("get_date", "{}")], finish="tool_calls")),
        ]
    )
    calls = completion.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls if c.function] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_time", '{"tz":"CET"}'),
        ("get_date", "{}"),
    ]
    assert [(e.call, e.name) for e in of_type(events, ToolCallStarted)] == [
        (0, "get_weather"),
        (1, "get_time"),
        (2, "get_date"),
    ]
    assert [(e.call, e.arguments) for e in of_type(events, ToolCallDone)] == [
        (0, '{"city":"Paris"}'),
        (1, '{"tz":"CET"}'),
        (2, "{}"),
    ]


def test_5_a_name_restated_at_its_index_with_more_arguments_joins() -> None:
    """The same name again, no id, at the call's index: a restatement (servers that repeat the name),
    so its arguments continue the call; and a name in pieces before any arguments is appended."""
    frag = lambda name, args: {"index": 0, "function": {"name": name, "arguments": args}}  # noqa: E731
    completion, _ = run(
        [
            chunk(delta_choice(tool_calls=[frag("get_", "")])),
            chunk(delta_choice(tool_calls=[frag("weather", "")])),
            chunk(delta_choice(tool_calls=[frag("get_weather", '{"a"')])),
            chunk(delta_choice(tool_calls=[frag("get_weather", ":1}")], finish="tool_calls")),
        ]
    )
    calls = completion.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls if c.function] == [
        ("get_weather", '{"a":1}')
    ]


def test_5_different_name_under_the_same_id_keeps_the_first() -> None:
    """A different name under an id the call already has is a server inconsistency: the first name
    is kept, since the arguments were written for it."""

    def frag(name: str, args: str) -> dict[str, Any]:
        return {"id": "c1", "index": 0, "type": "function", "function": {"name": name, "arguments": args}}

    completion, _ = run(
        [
            chunk(delta_choice(tool_calls=[frag("get_weather", '{"a"')])),
            chunk(delta_choice(tool_calls=[frag("get_time", ": 1}")], finish="tool_calls")),
        ]
    )
    call = (completion.message.tool_calls or [])[0]
    assert call.function is not None and call.function.name == "get_weather"
    assert call.function.arguments == '{"a": 1}'
    # Without an id, once arguments began, a different name is not appended: it opens the next call
    # (5.5; whole calls at one index), and the first keeps what was written for it.
    completion, _ = run(
        [
            chunk(delta_choice(tool_calls=[{"index": 0, "function": {"name": "get", "arguments": "{"}}])),
            chunk(
                delta_choice(
                    tool_calls=[{"index": 0, "function": {"name": "_x", "arguments": "}"}}],
                    finish="tool_calls",
                )
            ),
        ]
    )
    calls = completion.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls if c.function] == [
        ("get", "{"),
        ("_x", "}"),
    ]


# ---------------------------------------------------------------- 10. More OpenAI chunk features


def test_10_legacy_function_call_name_once_arguments_appended() -> None:
    """The pre-tools `delta.function_call` (still sent by several servers): name set once, arguments
    appended, kept on the message and in the next-turn message; openai-python gets this right."""
    completion, events = run(
        [
            chunk(delta_choice(role="assistant", function_call={"name": "get_weather", "arguments": ""})),
            chunk(delta_choice(function_call={"arguments": '{"city":'})),
            chunk(delta_choice(function_call={"name": "get_weather", "arguments": ' "Paris"}'})),
            chunk(delta_choice(finish="function_call")),
        ]
    )
    message = completion.message
    assert message.function_call is not None
    assert (message.function_call.name, message.function_call.arguments) == (
        "get_weather",
        '{"city": "Paris"}',
    )
    assert message.tool_calls is None
    assert message.to_request_message()["function_call"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert of_type(events, chunkwise.FunctionCallStarted) == [
        chunkwise.FunctionCallStarted(choice=0, name="get_weather")
    ]
    deltas = of_type(events, chunkwise.FunctionCallArgumentsDelta)
    assert "".join(e.delta for e in deltas) == '{"city": "Paris"}'
    (done,) = of_type(events, chunkwise.FunctionCallDone)
    assert done.parsed == {"city": "Paris"} and done.error is None and done.name == "get_weather"
    assert completion.model_dump(exclude_none=True)["choices"][0]["message"]["function_call"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }


def test_10_custom_tool_call_input_appended_never_judged_as_json() -> None:
    """OpenAI custom tools (`type: "custom"`): `input` appends like arguments, no `function` object is
    invented, events name the call, free-form input is never an error; LiteLLM gets this right."""
    completion, events = run(
        [
            chunk(
                delta_choice(
                    tool_calls=[
                        {"index": 0, "id": "call_1", "type": "custom", "custom": {"name": "sql", "input": ""}}
                    ]
                )
            ),
            chunk(delta_choice(tool_calls=[{"index": 0, "custom": {"input": "SELECT * "}}])),
            chunk(
                delta_choice(tool_calls=[{"index": 0, "custom": {"input": "FROM t"}}], finish="tool_calls")
            ),
        ]
    )
    (call,) = completion.message.tool_calls or []
    assert call.function is None and call.custom is not None
    assert (call.type, call.custom.name, call.custom.input) == ("custom", "sql", "SELECT * FROM t")
    assert call.arguments_error is None and call.parsed_arguments is None
    dumped = completion.model_dump(exclude_none=True)["choices"][0]["message"]["tool_calls"][0]
    assert dumped == {"id": "call_1", "type": "custom", "custom": {"name": "sql", "input": "SELECT * FROM t"}}
    assert completion.message.to_request_message()["tool_calls"] == [dumped]
    assert of_type(events, ToolCallStarted) == [
        ToolCallStarted(choice=0, call=0, id="call_1", name="sql", call_type="custom")
    ]
    assert "".join(e.delta for e in of_type(events, ToolCallArgumentsDelta)) == "SELECT * FROM t"
    (done,) = of_type(events, ToolCallDone)
    assert (done.call_type, done.arguments, done.parsed, done.error) == (
        "custom",
        "SELECT * FROM t",
        None,
        None,
    )


def test_10_lists_under_delta_are_concatenated_in_arrival_order() -> None:
    """`delta.annotations` over two chunks give both citations in order (LiteLLM chains them); any other
    list under `delta` (OpenRouter `images`) follows the same rule; lists elsewhere are restated state."""

    def cite(n: int) -> dict[str, Any]:
        url = {"url": f"https://e.com/{n}", "title": str(n), "start_index": 0, "end_index": 1}
        return {"type": "url_citation", "url_citation": url}

    def image(n: int) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{n}"}}

    completion, _ = run(
        [
            chunk(delta_choice(content="a", annotations=[cite(1)], images=[image(1)]), citations=["x"]),
            chunk(
                delta_choice(content="b", annotations=[cite(2), cite(3)], images=[image(2)]), citations=["x"]
            ),
            chunk(delta_choice(finish="stop"), citations=["x"]),
        ]
    )
    message = completion.message
    assert message.annotations == [cite(1), cite(2), cite(3)]
    assert (message.model_extra or {})["images"] == [image(1), image(2)]
    assert (completion.model_extra or {})["citations"] == ["x"]


@pytest.mark.parametrize(
    ("flagged", "rest", "thinking"),
    [
        ("<thought>why <", ["</thought>answer"], "why <"),
        ("<thought>why </", ["</thought>answer"], "why </"),
        ("<thought>why </tho", ["</thought>answer"], "why </tho"),
        ("<thought>why <", ["</tho", "ught>answer"], "why <"),
        ("<thought>why </tho", ["ught>answer"], "why "),
    ],
)
def test_10_flagged_thinking_ending_in_a_tag_prefix_keeps_the_close_tag_out(
    flagged: str, rest: list[str], thinking: str
) -> None:
    """Flagged thinking whose last characters could begin `</thought>` ("why <"), then the real
    closing tag on the unflagged chunk: the held characters are thinking, the tag reaches no text."""
    google = {"google": {"thought": True}}
    chunks = [chunk(delta_choice(content=flagged, extra_content=google))]
    chunks += [chunk(delta_choice(content=piece)) for piece in rest]
    for tag in (None, "think"):
        completion, _ = run([*chunks, chunk(delta_choice(finish="stop"))], thought_tag=tag)
        assert (completion.message.content, completion.message.reasoning_content) == ("answer", thinking)


def test_10_thought_flag_wins_over_the_configured_tag() -> None:
    """With thought_tag="think" (the README's example), a Gemini API stream whose thinking arrives flagged
    inside `<thought>` ... `</thought>` keeps both tags out of the thinking and the answer."""
    flagged = {"google": {"thought": True}}
    for tag in ("think", "thought", None):
        completion, events = run(
            [
                chunk(delta_choice(role="assistant", content="<thought>I should", extra_content=flagged)),
                chunk(delta_choice(content=" add.", extra_content=flagged)),
                chunk(delta_choice(content="</thought>The answer")),
                chunk(delta_choice(content=" is 4.", finish="stop")),
            ],
            thought_tag=tag,
        )
        assert completion.message.reasoning_content == "I should add.", tag
        assert completion.message.content == "The answer is 4.", tag
        assert completion.message.extra_content is None
        assert "".join(e.delta for e in of_type(events, ContentDelta)) == "The answer is 4."


def test_10_reasoning_details_text_fills_reasoning_never_doubled() -> None:
    """Thinking sent only as `reasoning_details` `reasoning.text` entries (Snowflake Cortex, Anthropic
    behind OpenRouter) fills `reasoning_content`; where `reasoning` carries the same text it counts once."""

    def detail(text: str) -> list[dict[str, Any]]:
        return [{"type": "reasoning.text", "text": text, "index": 0, "format": "anthropic-claude-v1"}]

    completion, _ = run(
        [
            chunk(delta_choice(reasoning_details=detail("Let me "))),
            chunk(delta_choice(reasoning_details=detail("think."))),
            chunk(delta_choice(content="Done.", finish="stop")),
        ]
    )
    assert completion.message.reasoning_content == "Let me think."
    assert (completion.message.model_extra or {})["reasoning_details"][0]["text"] == "Let me think."
    completion, _ = run(
        [
            chunk(delta_choice(reasoning="Let me ", reasoning_details=detail("Let me "))),
            chunk(delta_choice(reasoning="think.", reasoning_details=detail("think."))),
            chunk(delta_choice(content="Done.", finish="stop")),
        ]
    )
    assert completion.message.reasoning_content == "Let me think."


def test_10_obfuscation_dropped() -> None:
    """OpenAI's `obfuscation` is random padding on each stream event, not part of the completion."""
    completion, _ = run(
        [
            chunk(delta_choice(content="a"), obfuscation="Xy1"),
            chunk(
                {
                    "index": 0,
                    "delta": {"content": "b", "obfuscation": "q"},
                    "obfuscation": "z",
                    "finish_reason": "stop",
                },
                obfuscation="pQ",
            ),
        ]
    )
    assert "obfuscation" not in json.dumps(completion.model_dump())
    assert completion.message.content == "ab"


def test_10_nulls_stay_null() -> None:
    """A server's `refusal: null` / `logprobs: null` stay null (never `""` / `{}`), in the result and
    in the next-turn message."""
    completion, _ = run(
        [
            chunk(
                {"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None}
            ),
            chunk(
                {
                    "index": 0,
                    "delta": {"content": "hi", "refusal": ""},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ),
        ]
    )
    assert completion.message.refusal is None and completion.choices[0].logprobs is None
    assert "refusal" not in completion.message.to_request_message()
    dumped = completion.model_dump()["choices"][0]
    assert dumped["logprobs"] is None and dumped["message"]["refusal"] is None


def test_10_text_is_valid_unicode_surrogate_pair_split_across_chunks() -> None:
    """A surrogate pair escaped across two chunks is one character; a lone surrogate becomes U+FFFD and
    is counted; the result always dumps as UTF-8 JSON, and the deltas add up to the result."""
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"smile \\ud83d"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"\\ude00 lone \\udc00!"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"end \\ud800"},"finish_reason":"stop"}]}\n\n'
    )
    assembler = StreamAssembler()
    events = assembler.feed_bytes(body) + assembler.close()
    completion = assembler.completion
    assert completion.message.content == "smile \U0001f600 lone \ufffd!end \ufffd"
    assert completion.replaced_characters == 2
    assert "".join(e.delta for e in of_type(events, ContentDelta)) == completion.message.content
    completion.model_dump_json()
    json.dumps(completion.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- 11. After the finish


def test_11_metadata_after_finish_still_merges() -> None:
    """Gemini's trailing signature and usage after `finish_reason` merge into the finished message."""
    completion, _ = run(
        [
            chunk(delta_choice(content="Hi", finish="stop")),
            chunk(delta_choice(content="", extra_content={"google": {"thought_signature": "sig"}})),
            chunk(usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}),
        ]
    )
    assert completion.message.thought_signature == "sig" and completion.message.content == "Hi"
    assert completion.usage is not None and completion.usage.total_tokens == 3


@pytest.mark.parametrize("late", [{"content": ""}, {"content": []}])
def test_11_empty_content_after_finish_leaves_null_content_null(late: dict[str, Any]) -> None:
    """OpenRouter's trailing usage chunk says `content: ""` after a tool-call finish: the answer had
    no content and still has none, as the events (no ContentDone) say. Before the finish "" counts."""
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    completion, events = run(
        [chunk(delta_choice(tool_calls=[call], finish="tool_calls")), chunk(delta_choice(**late))]
    )
    assert completion.message.content is None and not of_type(events, chunkwise.ContentDone)
    completion, events = run([chunk(delta_choice(content="")), chunk(delta_choice(finish="stop"))])
    assert completion.message.content == "" and [
        e.content for e in of_type(events, chunkwise.ContentDone)
    ] == [""]


@pytest.mark.parametrize(
    "late",
    [
        {"content": "more"},
        {"reasoning_content": "hmm"},
        {"refusal": "no"},
        {"tool_calls": [{"index": 0, "id": "c9", "function": {"name": "f", "arguments": "{}"}}]},
        {"function_call": {"name": "f", "arguments": "{}"}},
        {"audio": {"data": "QUJD"}},
    ],
)
def test_11_text_or_calls_after_finish_are_never_merged(late: dict[str, Any]) -> None:
    """Text, thinking, a call or audio for a finished choice is not merged into the finished message and
    not dropped: the stream fails as malformed, with the late chunk as `.raw` and the finished answer as
    the partial; no delta event follows the choice's *Done events."""
    assembler = StreamAssembler()
    events = assembler.feed(chunk(delta_choice(content="Hi", finish="stop")))
    late_chunk = chunk({"index": 0, "delta": late})
    with pytest.raises(MalformedChunkError) as caught:
        assembler.feed(late_chunk)
    error = caught.value
    assert error.position == 2 and error.raw == repr(late_chunk)
    assert "already finished" in error.message
    assert error.partial is not None and error.partial.message.content == "Hi"
    assert error.partial.message.tool_calls is None and error.partial.message.reasoning_content is None
    assert error.events == []
    assert isinstance(events[-1], ChoiceFinished)


def test_11_two_responses_back_to_back_are_not_one_completion() -> None:
    """The Cerebras log holds two whole responses back to back; they must not come out as one completion."""
    first = [chunk(delta_choice(role="assistant", content="one")), chunk(delta_choice(finish="stop"))]
    second = [
        chunk(delta_choice(role="assistant", content="two"), id="other"),
        chunk(delta_choice(finish="stop"), id="other"),
    ]
    with pytest.raises(MalformedChunkError) as caught:
        chunkwise.assemble(sse(*first, *second))
    assert caught.value.partial is not None and caught.value.partial.message.content == "one"
    assert '"two"' in caught.value.raw


def test_1_done_ends_the_stream_a_chunk_after_it_is_malformed() -> None:
    """`data: [DONE]` ends the stream: a chunk after it is not merged into the finished answer; a repeated
    [DONE] or a keep-alive after it is harmless."""
    finished = chunk(delta_choice(content="a", finish="stop"))
    assert chunkwise.assemble(sse(finished) + b"data: [DONE]\n\n: ping\n\n").done_received
    with pytest.raises(MalformedChunkError, match=r"after data: \[DONE\]") as caught:
        chunkwise.assemble(sse(finished) + sse(chunk(delta_choice(content="b")), done=False))
    assert caught.value.partial is not None and caught.value.partial.message.content == "a"


def test_5_a_call_that_gets_its_id_late_stays_one_call() -> None:
    """A call opened at an index without an id, whose id arrives on a later fragment, stays one call."""
    completion, events = run(
        [
            chunk(delta_choice(tool_calls=[{"index": 0, "function": {"name": "f", "arguments": '{"a"'}}])),
            chunk(
                delta_choice(
                    tool_calls=[{"index": 0, "id": "call_1", "function": {"arguments": ": 1}"}}],
                    finish="tool_calls",
                )
            ),
        ]
    )
    (call,) = completion.message.tool_calls or []
    assert (call.id, call.function and call.function.arguments) == ("call_1", '{"a": 1}')
    assert len(of_type(events, ToolCallStarted)) == 1


# ---------------------------------------------------------------- review findings, pinned


def test_9_failure_events_end_with_what_the_failing_input_said() -> None:
    """Held text released when a failure ends the stream is reported as deltas, so the events add up
    to the partial: before a server error's ServerErrorReceived (which stays last), as the only
    events of a late chunk's error, before StreamEnded for a cut stream."""
    assembler = chunkwise.StreamAssembler(thought_tag="think")
    assembler.feed(chunk(delta_choice(content="ab<")))
    with pytest.raises(chunkwise.ServerError) as info:
        assembler.feed({"error": {"message": "overloaded"}})
    assert [type(e).__name__ for e in info.value.events] == ["ContentDelta", "ServerErrorReceived"]
    assert info.value.partial is not None and info.value.partial.choices[0].message.content == "ab<"

    assembler = chunkwise.StreamAssembler(thought_tag="think")
    assembler.feed(chunk(delta_choice(index=1, content="x<")))
    assembler.feed(chunk(delta_choice(content="done", finish="stop")))
    with pytest.raises(chunkwise.MalformedChunkError) as late:
        assembler.feed(chunk(delta_choice(content="more")))
    assert late.value.events == [chunkwise.ContentDelta(choice=1, delta="<")]

    body = sse(chunk(delta_choice(content="hi")), done=False) + b'data: {"choi'
    assembler = chunkwise.StreamAssembler()
    assembler.feed_bytes(body)
    with pytest.raises(chunkwise.IncompleteStreamError) as cut:
        assembler.close()
    assert type(cut.value.events[-1]) is chunkwise.StreamEnded and not cut.value.events[-1].complete


def test_9_interrupt_reads_what_the_decoder_holds_as_close_does() -> None:
    """A whole `data:` line still waiting for its blank line counts; a line cut in two does not; a
    server error among the last lines is what the interrupt returns."""
    assembler = chunkwise.StreamAssembler()
    assembler.feed_bytes(b'data: {"choices":[{"index":0,"delta":{"content":"hello"}}]}\n')
    error = assembler.interrupt("connection reset")
    assert isinstance(error, chunkwise.IncompleteStreamError)
    assert error.partial is not None and error.partial.choices[0].message.content == "hello"
    assert assembler.state is chunkwise.State.FAILED
    assembler = chunkwise.StreamAssembler()
    assembler.feed_bytes(b'data: {"error": {"message": "quota"}}\n')
    assert isinstance(assembler.interrupt("connection reset"), chunkwise.ServerError)


def test_9_a_cut_comment_or_id_line_cannot_make_a_malformed_stream_incomplete() -> None:
    for tail in (b": keep-al", b"id: 1", b"retry: 1", b"event: x"):
        with pytest.raises(chunkwise.MalformedChunkError):
            chunkwise.assemble(b"data: garbage\n" + tail)


def test_10_answer_after_the_flagged_block_keeps_a_held_tag_prefix() -> None:
    """Text after `</thought>` that ends in `<` ("a <"): the `<` is answer, whatever comes next."""
    google = {"google": {"thought": True}}
    for tag in (None, "think"):
        completion, _ = run(
            [
                chunk(delta_choice(content="<thought>why", extra_content=google)),
                chunk(delta_choice(content="</thought>a <")),
                chunk(delta_choice(content="b>")),
                chunk(delta_choice(finish="stop")),
            ],
            thought_tag=tag,
        )
        assert (completion.message.content, completion.message.reasoning_content) == ("a <b>", "why")


def test_10_a_lone_surrogate_in_fed_text_is_replaced_not_a_crash() -> None:
    from chunkwise._payloads import parse_arguments

    assert parse_arguments('"\udc80"') == ("\udc80", None)  # json.loads' reading, never a raise
    completion, _ = run(['{"choices":[{"index":0,"delta":{"content":"a\ud800b"},"finish_reason":"stop"}]}'])
    assert completion.message.content == "a\ufffdb" and completion.replaced_characters == 1


def test_11_a_refused_late_entry_merges_nothing_and_a_restated_finish_takes_gemini_whole_calls() -> None:
    """The pre-check before a late entry's merge asks the identity rule the merge asks (§5)."""
    first = {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assembler = chunkwise.StreamAssembler()
    assembler.feed(chunk(delta_choice(tool_calls=[first], finish="tool_calls")))
    late = [{"extra_content": {"google": {"thought_signature": "LATE"}}}, {"function": {"name": "f"}}]
    with pytest.raises(chunkwise.MalformedChunkError) as info:
        assembler.feed(chunk(delta_choice(tool_calls=late)))
    assert info.value.partial is not None
    assert info.value.partial.message.tool_calls is not None
    assert [c.thought_signature for c in info.value.partial.message.tool_calls] == [None]
    # Gemini API style: whole calls without id or index, the next one on an entry restating the finish.
    whole = {"function": {"name": "g", "arguments": "{}"}}
    completion, _ = run(
        [
            chunk(
                delta_choice(tool_calls=[{"function": {"name": "f", "arguments": "{}"}}], finish="tool_calls")
            ),
            chunk(delta_choice(tool_calls=[whole], finish="tool_calls")),
        ]
    )
    assert [c.function.name for c in completion.message.tool_calls or [] if c.function] == ["f", "g"]


@pytest.mark.parametrize(
    ("tail", "kept"),
    [
        (b": \xc3", "hi"),
        (b"\xc3", "hi"),
        (b"\n\xc3", "hi"),
        (b'data: "\xc3', None),
        # Stray text (Vertex's raw error lines) then a cut stray line: cut with it, as in ASCII.
        (b'[{"error": {"code": 499, "message": "x"}}]\n\xc3', "hi"),
        (b'[{"error": {"code": 499, "message": "x"}}]\nx', "hi"),
    ],
)
def test_9_a_stream_cut_inside_a_character_keeps_the_event_before_the_cut_line(
    tail: bytes, kept: str | None
) -> None:
    """The input ends inside a UTF-8 character: the cut line is left out, an event whose lines all
    ended before it still counts, unless the cut line may be one more of its data lines."""
    event = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n'
    for pieces in ([event + tail], [event, tail], [event + tail[:1], tail[1:]]):
        assembler = chunkwise.StreamAssembler()
        for piece in pieces:
            assembler.feed_bytes(piece)
        with pytest.raises(chunkwise.IncompleteStreamError) as info:
            assembler.close()
        partial = info.value.partial
        assert partial is not None
        assert (partial.choices[0].message.content if partial.choices else None) == kept
