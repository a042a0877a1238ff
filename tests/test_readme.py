"""The README's code runs as shown."""

from __future__ import annotations

import ast
import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

import chunkwise

from helpers import FIXTURES, ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def block(marker: str) -> str:
    """The one README code block that contains ``marker``."""
    (found,) = [b for b in BLOCKS if marker in b]
    return found


class FakeResponse:
    """Stands in for an httpx response: the Vertex <think> stream in 7-byte pieces."""

    def iter_bytes(self) -> Any:
        body = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()
        return (body[i : i + 7] for i in range(0, len(body), 7))


def test_the_loop_you_write(capsys: Any) -> None:
    """The ten-line loop: answer text printed as it arrives, the message ready for the next request."""
    namespace: dict[str, Any] = {"response": FakeResponse(), "next_messages": []}
    exec(block("assembler.feed_bytes(piece)"), namespace)
    out = capsys.readouterr().out
    assert out.endswith("so 2 is the only one. <3") and "<think>" not in out
    assert namespace["next_messages"] == [namespace["completion"].to_request_message()]
    assert namespace["completion"].message.reasoning_content.startswith("Primes of the form")


def test_the_strategies_example() -> None:
    """The fuzzing example passes for a client that assembles with chunkwise."""
    namespace: dict[str, Any] = {
        "my_client": lambda pieces: chunkwise.assemble(pieces).model_dump(exclude_none=True)
    }
    exec(block("def test_my_client(pair, data)"), namespace)
    namespace["test_my_client"]()


def test_the_http_client_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP client example, sync and async, gives the documented Vertex stream's completion."""
    import httpx

    body = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    transport = httpx.MockTransport(answer)

    class Client(httpx.Client):  # the example's own `httpx.Client(...)`, served by the fixture
        def __init__(self, **options: Any) -> None:
            super().__init__(transport=transport, **options)

    class AsyncClient(httpx.AsyncClient):
        def __init__(self, **options: Any) -> None:
            super().__init__(transport=transport, **options)

    monkeypatch.setattr(httpx, "Client", Client)
    monkeypatch.setattr(httpx, "AsyncClient", AsyncClient)
    namespace: dict[str, Any] = {
        "messages": [{"role": "user", "content": "Is 2 the only even prime?"}],
        "url": "http://vertex.test/v1/chat/completions",
        "auth": {"authorization": "Bearer x"},
    }
    code = compile(
        block("astream_chat(client, url"), "<README>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    asyncio.run(eval(code, namespace))  # a coroutine: the example ends with `async with`
    # The async example (the last) names no thought tag: its thinking stays in the content.
    assert namespace["completion"] == chunkwise.assemble(body)
    assert sent[0]["stream"] is True and len(sent) == 2


def test_the_replay_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ReplayTransport example: the openai SDK assembles the recording; the stall ends incomplete."""
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}], "body": {"stream": True}}
    with pytest.raises(chunkwise.IncompleteStreamError) as caught:
        exec(block('ReplayTransport("fixtures'), namespace)
    expected = chunkwise.assemble((FIXTURES / "vertex" / "parallel-tool-calls.sse").read_bytes())
    # The SDK swallows `data: [DONE]`, so only `done_received` differs from the file's own assembly.
    assert namespace["completion"].model_dump() == expected.model_dump()
    assert type(caught.value.__cause__).__name__ == "ReadTimeout"


def test_the_archive_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The archive example replays every fixture on a process pool; the failing fixtures are the failures."""
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(block("ProcessPoolExecutor"), namespace)
    failed = {Path(r["file"]).parent.name for r in namespace["failed"]}
    assert failed == {"failures"} and len(namespace["results"]) == len(list(FIXTURES.rglob("*.sse")))


def answer_every_client_with_the_think_stream(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every `httpx.Client` the example makes answers with the Vertex <think> stream; the requests
    it sent are collected in the list returned."""
    import httpx

    body = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    class Client(httpx.Client):
        def __init__(self, **options: Any) -> None:
            super().__init__(transport=httpx.MockTransport(answer), **options)

    monkeypatch.setattr(httpx, "Client", Client)
    return sent


def test_the_gemini_request_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Gemini example POSTs the page's thinking fields to the Vertex URL with a gcloud token, thinking split."""
    import sys

    import chunkwise._google_auth

    sent = answer_every_client_with_the_think_stream(monkeypatch)
    # `GoogleAuth()` runs `gcloud auth print-access-token`; here a command that prints a token.
    monkeypatch.setattr(
        chunkwise._google_auth, "DEFAULT_TOKEN_COMMAND", (sys.executable, "-c", "print('ya29.readme')")
    )
    namespace: dict[str, Any] = {}
    exec(block("auth=GoogleAuth(), timeout=60"), namespace)
    (request,) = sent
    assert str(request.url) == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/us-central1"
        "/endpoints/openapi/chat/completions"
    )
    assert request.headers["authorization"] == "Bearer ya29.readme"
    assert json.loads(request.content)["extra_body"] == {
        "google": {
            "thinking_config": {"include_thoughts": True, "thinking_budget": 10000},
            "thought_tag_marker": "think",
        }
    }
    assert namespace["completion"].message.reasoning_content.startswith("Primes of the form")


def test_the_gemini_openai_sdk_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The openai-python example sends the fields as the page's extra_body, with the token from VERTEX_TOKEN."""

    sent = answer_every_client_with_the_think_stream(monkeypatch)
    monkeypatch.setenv("VERTEX_TOKEN", "ya29.env")
    namespace: dict[str, Any] = {"messages": [{"role": "user", "content": "Is 2 the only even prime?"}]}
    exec(block("extra_body=fields"), namespace)
    (request,) = sent
    assert (
        request.url.host == "aiplatform.googleapis.com"
        and request.headers["authorization"] == "Bearer ya29.env"
    )
    assert json.loads(request.content)["extra_body"] == {
        "google": {"thinking_config": {"include_thoughts": True}, "thought_tag_marker": "think"}
    }
    assert namespace["completion"].message.reasoning_content.startswith("Primes of the form")


def test_the_gemini_tool_turn_example() -> None:
    """The tool loop: the documented parallel calls, both answered in call order with the signature kept, then text."""
    import httpx

    from chunkwise.replay import ReplayTransport

    turns = [
        ReplayTransport(FIXTURES / "vertex" / f)
        for f in ("parallel-tool-calls.sse", "tool-turn-weather-answer.sse")
    ]
    sent: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return turns[len(sent) - 1].handle_request(request)

    def get_current_weather(location: str, unit: str) -> dict[str, Any]:
        return {"location": location, "temperature": 8 if location.startswith("Boston") else 31, "unit": unit}

    namespace: dict[str, Any] = {
        "client": httpx.Client(transport=httpx.MockTransport(answer)),
        "url": "https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi/chat/completions",
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_current_weather", "parameters": {"type": "object"}},
            }
        ],
        "get_current_weather": get_current_weather,
    }
    exec(block("gemini.tool_results(message, results)"), namespace)
    assert len(sent) == 2 and namespace["message"].content.startswith("It is cloudy in Boston")
    _user, assistant, *tool_messages = sent[1]["messages"]
    calls = assistant["tool_calls"]
    assert [c.get("extra_content") for c in calls] == [{"google": {"thought_signature": "..."}}, None]
    assert [m["tool_call_id"] for m in tool_messages] == [c["id"] for c in calls]
    assert json.loads(tool_messages[1]["content"])["location"] == "New Delhi, India"


def test_the_partial_content_example() -> None:
    """Asked after every chunk, the draft grows into the whole object, which then parses."""
    from pydantic import BaseModel

    class CalendarEvent(BaseModel):
        name: str
        date: str
        participants: list[str]

    text = json.dumps({"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]})
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": text[i : i + 5]}}]} for i in range(0, len(text), 5)
    ]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    shown: list[tuple[Any, list[str]]] = []
    namespace: dict[str, Any] = {
        "chunkwise": chunkwise,
        "chunks": chunks,
        "CalendarEvent": CalendarEvent,
        "show": lambda name, people: shown.append((name, list(people))),
    }
    exec(block("draft = assembler.partial_content()"), namespace)
    assert namespace["event"] == CalendarEvent(
        name="Science fair", date="Friday", participants=["Alice", "Bob"]
    )
    names = [name for name, _ in shown if name is not None]
    assert names[0] != "Science fair" and "Science fair".startswith(names[0]) and names[-1] == "Science fair"
    assert shown[-1] == ("Science fair", ["Alice", "Bob"])


def test_the_faulty_streams_example() -> None:
    """The faulty-streams example passes for a client built on chunkwise."""

    def my_client(body: bytes) -> tuple[dict[str, Any], bool]:
        try:
            return chunkwise.assemble(body).model_dump(exclude_none=True), False
        except chunkwise.ChunkwiseError as exc:
            return (exc.partial or chunkwise.ChatCompletion()).model_dump(exclude_none=True), True

    namespace: dict[str, Any] = {"my_client": my_client}
    exec(block("def test_my_client_on_faulty_streams"), namespace)
    namespace["test_my_client_on_faulty_streams"]()


def test_the_plugin_example(tmp_path: Path) -> None:
    """The plugin example, as a user's test file beside a copy of fixtures/vertex, passes under pytest."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(FIXTURES / "vertex", tmp_path / "tests" / "recordings" / "vertex")
    (tmp_path / "tests" / "test_agent.py").write_text(block("def test_every_recording_assembles"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    recordings = len(list((FIXTURES / "vertex").glob("*.sse")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{recordings + 2} passed" in result.stdout
