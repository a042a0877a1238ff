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
    exec(block("def test_my_client"), namespace)
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
    code = compile(block("stream_chat(client, url"), "<README>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
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
