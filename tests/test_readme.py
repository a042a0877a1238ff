"""The README's code runs as shown."""

from __future__ import annotations

import re
from typing import Any

import chunkwise

from helpers import FIXTURES, ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


class FakeResponse:
    """Stands in for an httpx response: the Vertex <think> stream in 7-byte pieces."""

    def iter_bytes(self) -> Any:
        body = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()
        return (body[i : i + 7] for i in range(0, len(body), 7))


def test_the_loop_you_write(capsys: Any) -> None:
    """The ten-line loop: answer text printed as it arrives, the message ready for the next request."""
    namespace: dict[str, Any] = {"response": FakeResponse(), "next_messages": []}
    exec(BLOCKS[0], namespace)
    out = capsys.readouterr().out
    assert out.endswith("so 2 is the only one. <3") and "<think>" not in out
    assert namespace["next_messages"] == [namespace["completion"].to_request_message()]
    assert namespace["completion"].message.reasoning_content.startswith("Primes of the form")


def test_the_strategies_example() -> None:
    """The fuzzing example passes for a client that assembles with chunkwise."""
    namespace: dict[str, Any] = {
        "my_client": lambda pieces: chunkwise.assemble(pieces).model_dump(exclude_none=True)
    }
    exec(BLOCKS[1], namespace)
    namespace["test_my_client"]()
