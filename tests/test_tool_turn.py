"""A whole Gemini tool-calling turn over HTTP: calls streamed, answered, and the next request as the page shows it.

Each conversation runs against recordings in fixtures/vertex/ played by `ReplayTransport` (the n-th
request gets the n-th recording), through `chunkwise.http.stream_chat` with `GoogleAuth` on the
client, and the test reads back the bodies the transport received.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

import chunkwise
from chunkwise import gemini
from chunkwise._google_auth import GoogleAuth
from chunkwise.http import astream_chat, stream_chat
from chunkwise.replay import ReplayTransport

from helpers import FIXTURES

URL = gemini.vertex_url("PROJECT_ID")
TOKEN = "ya29.test-token"

# ---------------------------------------------------------------- the page, transcribed

#: "Use stream_function_call_arguments": the request whose streamed answer is parallel-tool-calls.sse.
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location", "unit"],
            },
        },
    }
]
WEATHER_USER = {"role": "user", "content": "What is the weather like in Boston and New Delhi today?"}
DOC_WEATHER_REQUEST = {
    "model": "google/gemini-3-pro-preview",
    "messages": [WEATHER_USER],
    "tools": WEATHER_TOOLS,
    "extra_body": {"google": {"stream_function_call_arguments": True}},
    "stream": True,
}

#: "Multi-modal function responses": the example request, as its JSON. (The page's curl quotes
#: 'green shirt' inside the shell's single quotes, which cuts the -d argument; the description
#: below is the text it means.)
GET_IMAGE_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_image",
            "description": "Retrieves the image file reference for a specific order item.",
            "parameters": {
                "type": "object",
                "properties": {
                    "item_name": {
                        "type": "string",
                        "description": "The name or description of the item ordered (e.g., 'green shirt').",
                    }
                },
                "required": ["item_name"],
            },
        },
    }
]
SHIRT_USER = {"role": "user", "content": "Show me the green shirt I ordered last month."}
DOC_MULTIMODAL_REQUEST = {
    "model": "google/gemini-3-pro-preview",
    "messages": [
        SHIRT_USER,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "extra_content": {"google": {"thought_signature": "<THOUGHT_SIGNATURE>"}},
                    "function": {"arguments": '{"item_name":"green shirt"}', "name": "get_image"},
                    "id": "function-call-a350228d-0283-4792-8bfa-40da064fb959",
                    "type": "function",
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "function-call-a350228d-0283-4792-8bfa-40da064fb959",
            "content": '{"image_ref":{"$ref":"dress.jpg"}}',
            "extra_content": {
                "google": {
                    "parts": [
                        {
                            "file_data": {
                                "mime_type": "image/jpg",
                                "display_name": "dress.jpg",
                                "file_uri": "gs://cloud-samples-data/generative-ai/image/dress.jpg",
                            }
                        }
                    ]
                }
            },
        },
    ],
    "tools": GET_IMAGE_TOOLS,
}
#: Its example response (without its "logprobs": null: a dump without None values).
DOC_MULTIMODAL_RESPONSE = {
    "choices": [
        {
            "finish_reason": "stop",
            "index": 0,
            "message": {"content": "Here is the image of the green shirt you ordered.", "role": "assistant"},
        }
    ],
    "created": 1770852204,
    "id": "bA-NacCPKoae_9MPsNCn6Qc",
    "model": "google/gemini-3-pro-preview",
    "object": "chat.completion",
    "system_fingerprint": "",
    "usage": {
        "completion_tokens": 16,
        "extra_properties": {"google": {"traffic_type": "ON_DEMAND"}},
        "prompt_tokens": 1139,
        "total_tokens": 1155,
    },
}

A = "function-call-c855348a-459a-46a4-a8ad-aa0a4e7c3563"  # Boston, signed
B = "function-call-df0d087c-ad74-46f1-ba4a-9353cbf288a8"  # New Delhi, unsigned


# ---------------------------------------------------------------- the transport


class Conversation(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers the n-th request with the n-th recording (cut in random pieces) and keeps every request."""

    def __init__(self, *recordings: str) -> None:
        self._turns = [
            ReplayTransport(FIXTURES / "vertex" / name, pieces="random", seed=n)
            for n, name in enumerate(recordings)
        ]
        self.requests: list[httpx.Request] = []

    def _next(self, request: httpx.Request) -> ReplayTransport:
        self.requests.append(request)
        assert len(self.requests) <= len(self._turns), "more requests than recorded answers"
        return self._turns[len(self.requests) - 1]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._next(request).handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._next(request).handle_async_request(request)

    def body(self, n: int) -> Any:
        return json.loads(self.requests[n].content)


def weather(arguments: dict[str, str]) -> dict[str, Any]:
    """The tool: made-up weather for the two documented cities."""
    table = {"Boston, MA": (8, "cloudy"), "New Delhi, India": (31, "sunny")}
    degrees, sky = table[arguments["location"]]
    return {"location": arguments["location"], "temperature": degrees, "unit": arguments["unit"], "sky": sky}


# ---------------------------------------------------------------- the weather turn


def weather_requests(first: chunkwise.ChatCompletion | None = None) -> dict[str, Any]:
    """The first request (first=None), or the second one built from the first answer."""
    body = {
        "model": "google/gemini-3-pro-preview",
        "messages": [WEATHER_USER],
        "tools": WEATHER_TOOLS,
        **gemini.request_fields(stream_function_call_arguments=True),
        "stream": True,
    }
    if first is not None:
        message = first.message
        # Results in the order the tools happened to finish (New Delhi first): the helper puts
        # them back in call order.
        results = {call.id: weather(call.parsed_arguments) for call in reversed(message.tool_calls or [])}
        body["messages"] = [
            WEATHER_USER,
            message.to_request_message(),
            *gemini.tool_results(message, results),
        ]
    return body


def check_weather_turn(conversation: Conversation, answers: list[chunkwise.ChatCompletion]) -> None:
    first, second = answers
    assert len(conversation.requests) == 2
    assert all(
        r.url == URL and r.headers["authorization"] == f"Bearer {TOKEN}" for r in conversation.requests
    )
    assert conversation.body(0) == DOC_WEATHER_REQUEST

    # The first answer: two calls, the signature on the first only (as Gemini signs parallel calls).
    calls = first.message.tool_calls or []
    assert [c.id for c in calls] == [A, B] and first.choices[0].finish_reason == "tool_calls"
    assert [c.thought_signature for c in calls] == ["...", None]

    # The second request, field by field.
    sent = conversation.body(1)
    assert list(sent) == ["model", "messages", "tools", "extra_body", "stream"]
    assert sent["model"] == "google/gemini-3-pro-preview" and sent["stream"] is True
    assert sent["tools"] == WEATHER_TOOLS  # the tools go with every request
    assert sent["extra_body"] == {"google": {"stream_function_call_arguments": True}}
    user, assistant, *tools = sent["messages"]
    assert user == WEATHER_USER
    # The assistant turn as the page's multi-modal example sends one back: each call with its id,
    # type, name and arguments as received, the signature on the call that carried it and on no
    # other, no `index`, and no `content` key (the page's example writes none for a message of calls).
    assert assistant == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": A,
                "type": "function",
                "function": {
                    "name": "get_current_weather",
                    "arguments": '{"location":"Boston, MA","unit":"celsius"}',
                },
                "extra_content": {"google": {"thought_signature": "..."}},
            },
            {
                "id": B,
                "type": "function",
                "function": {
                    "name": "get_current_weather",
                    "arguments": '{"location":"New Delhi, India","unit":"celsius"}',
                },
            },
        ],
    }
    # Every call answered, in call order, right after the assistant turn.
    assert tools == [
        {
            "role": "tool",
            "tool_call_id": A,
            "content": '{"location":"Boston, MA","temperature":8,"unit":"celsius","sky":"cloudy"}',
        },
        {
            "role": "tool",
            "tool_call_id": B,
            "content": '{"location":"New Delhi, India","temperature":31,"unit":"celsius","sky":"sunny"}',
        },
    ]

    # The second answer: text, signed at the message level on its last chunk.
    assert second.message.content == "It is cloudy in Boston, MA at 8 °C, and sunny in New Delhi at 31 °C."
    assert second.message.thought_signature == "..."
    assert second.message.tool_calls is None and second.choices[0].finish_reason == "stop"
    # ... and that signature goes back with it on the turn after.
    assert second.message.to_request_message() == {
        "role": "assistant",
        "content": second.message.content,
        "extra_content": {"google": {"thought_signature": "..."}},
    }


def test_weather_turn_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel calls streamed, answered with tool_results, the second request as Gemini needs it, text back."""
    monkeypatch.setenv("VERTEX_TOKEN", TOKEN)
    conversation = Conversation("parallel-tool-calls.sse", "tool-turn-weather-answer.sse")
    with httpx.Client(transport=conversation, auth=GoogleAuth(env="VERTEX_TOKEN")) as client:
        body = weather_requests()
        with stream_chat(client, URL, json=body, thought_tag=gemini.thought_tag_of(body)) as stream:
            started = [e.id for e in stream if isinstance(e, chunkwise.ToolCallStarted)]
        first = stream.completion
        with stream_chat(client, URL, json=weather_requests(first)) as stream:
            second = stream.until_done()
    assert started == [A, B]
    check_weather_turn(conversation, [first, second])


def test_weather_turn_end_to_end_async(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same turn with httpx.AsyncClient and astream_chat gives the same requests and answers."""
    monkeypatch.setenv("VERTEX_TOKEN", TOKEN)
    conversation = Conversation("parallel-tool-calls.sse", "tool-turn-weather-answer.sse")

    async def main() -> list[chunkwise.ChatCompletion]:
        async with httpx.AsyncClient(transport=conversation, auth=GoogleAuth(env="VERTEX_TOKEN")) as client:
            async with astream_chat(client, URL, json=weather_requests()) as stream:
                first = await stream.until_done()
            async with astream_chat(client, URL, json=weather_requests(first)) as stream:
                second = await stream.until_done()
        return [first, second]

    check_weather_turn(conversation, asyncio.run(main()))


# ---------------------------------------------------------------- the multi-modal function response


def test_multimodal_function_response_is_the_documented_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's multi-modal request, built from a streamed call with tool_results + file_data, and its answer."""
    monkeypatch.setenv("VERTEX_TOKEN", TOKEN)
    conversation = Conversation("multimodal-function-call.sse", "multimodal-function-response.sse")
    with httpx.Client(transport=conversation, auth=GoogleAuth(env="VERTEX_TOKEN")) as client:
        first_body = {
            "model": "google/gemini-3-pro-preview",
            "messages": [SHIRT_USER],
            "tools": GET_IMAGE_TOOLS,
        }
        with stream_chat(client, URL, json={**first_body, "stream": True}) as stream:
            first = stream.until_done()
        message = first.message
        (call,) = message.tool_calls or []
        image = gemini.file_data(
            "gs://cloud-samples-data/generative-ai/image/dress.jpg", "image/jpg", display_name="dress.jpg"
        )
        second_body = {
            "model": "google/gemini-3-pro-preview",
            "messages": [
                SHIRT_USER,
                message.to_request_message(),
                *gemini.tool_results(
                    message, {call.id: {"image_ref": {"$ref": "dress.jpg"}}}, parts={call.id: [image]}
                ),
            ],
            "tools": GET_IMAGE_TOOLS,
        }
        # The page's request has no "stream": the endpoint answers one chat.completion, read the same way.
        with stream_chat(client, URL, json=second_body) as stream:
            second = stream.until_done()

    sent = conversation.body(1)
    assert "content" not in sent["messages"][1]  # as the page writes a message of calls only
    assert sent == DOC_MULTIMODAL_REQUEST
    assert conversation.requests[1].headers["content-type"] == "application/json"
    assert second.model_dump(mode="json", exclude_none=True) == DOC_MULTIMODAL_RESPONSE


def test_a_missing_result_fails_before_anything_is_sent() -> None:
    """Answering one of two parallel calls raises in tool_results: Gemini would refuse the request."""
    first = chunkwise.assemble((FIXTURES / "vertex" / "parallel-tool-calls.sse").read_bytes())
    with pytest.raises(ValueError, match=f"no result for call\\(s\\) {B}"):
        gemini.tool_results(first.message, {A: weather({"location": "Boston, MA", "unit": "celsius"})})
