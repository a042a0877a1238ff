"""chunkwise.gemini (request fields, endpoints, next-turn messages) and GoogleAuth, against the Vertex page."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import chunkwise
import chunkwise.http
from chunkwise import gemini
from chunkwise._google_auth import GoogleAuth, GoogleAuthError

from helpers import FIXTURES

# ---------------------------------------------------------------- the page's requests, transcribed

#: "Use thinking_config with extra_body" (POST https://us-central1-aiplatform.googleapis.com/v1/...).
DOC_THINKING_URL = (
    "https://us-central1-aiplatform.googleapis.com/v1/projects/PROJECT_ID/locations/us-central1"
    "/endpoints/openapi/chat/completions"
)
DOC_THINKING_BODY = {
    "model": "google/gemini-2.5-flash-preview-04-17",
    "messages": [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Are there any primes number of the form n*ceil(log(n))"}],
        }
    ],
    "extra_body": {
        "google": {
            "thinking_config": {"include_thoughts": True, "thinking_budget": 10000},
            "thought_tag_marker": "think",
        }
    },
    "stream": True,
}
#: "Use stream_function_call_arguments": its URL and the extra_body of its body.
DOC_STREAM_ARGS_URL = "https://aiplatform.googleapis.com/v1/projects/PROJECT_ID/locations/global/endpoints/openapi/chat/completions"
DOC_STREAM_ARGS_EXTRA = {"extra_body": {"google": {"stream_function_call_arguments": True}}}


# ---------------------------------------------------------------- request_fields


def test_request_fields_give_the_documented_thinking_body() -> None:
    """Tag, include_thoughts and budget give exactly the page's extra_body, nested as it shows."""
    fields = gemini.request_fields(thought_tag="think", include_thoughts=True, thinking_budget=10000)
    body = {
        "model": DOC_THINKING_BODY["model"],
        "messages": DOC_THINKING_BODY["messages"],
        **fields,
        "stream": True,
    }
    assert body == DOC_THINKING_BODY
    assert list(fields) == ["extra_body"]


def test_request_fields_give_the_documented_stream_arguments_field() -> None:
    """stream_function_call_arguments maps to extra_body.google.stream_function_call_arguments."""
    assert gemini.request_fields(stream_function_call_arguments=True) == DOC_STREAM_ARGS_EXTRA


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {}),
        ({"reasoning_effort": "low"}, {"reasoning_effort": "low"}),
        ({"reasoning_effort": "none"}, {"reasoning_effort": "none"}),
        (
            {"include_thoughts": False},
            {"extra_body": {"google": {"thinking_config": {"include_thoughts": False}}}},
        ),
        ({"thinking_budget": 0}, {"extra_body": {"google": {"thinking_config": {"thinking_budget": 0}}}}),
        ({"thinking_budget": -1}, {"extra_body": {"google": {"thinking_config": {"thinking_budget": -1}}}}),
        ({"thought_tag": "thought"}, {"extra_body": {"google": {"thought_tag_marker": "thought"}}}),
        (
            {"reasoning_effort": "high", "include_thoughts": True, "stream_function_call_arguments": False},
            {
                "reasoning_effort": "high",
                "extra_body": {
                    "google": {
                        "thinking_config": {"include_thoughts": True},
                        "stream_function_call_arguments": False,
                    }
                },
            },
        ),
    ],
)
def test_request_fields_hold_only_the_options_given(
    options: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Each option appears where it belongs (reasoning_effort at the top), and nothing else appears."""
    assert gemini.request_fields(**options) == expected


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"thought_tag": ""}, ValueError, "thought_tag"),
        ({"thought_tag": "<think>"}, ValueError, "thought_tag"),
        ({"thought_tag": 3}, TypeError, "thought_tag"),
        ({"include_thoughts": "yes"}, TypeError, "include_thoughts"),
        ({"include_thoughts": 1}, TypeError, "include_thoughts"),
        ({"thinking_budget": -2}, ValueError, "thinking_budget"),
        ({"thinking_budget": True}, TypeError, "thinking_budget"),
        ({"thinking_budget": 1.5}, TypeError, "thinking_budget"),
        ({"thinking_budget": "100"}, TypeError, "thinking_budget"),
        ({"reasoning_effort": "extreme"}, ValueError, "reasoning_effort"),
        ({"reasoning_effort": "HIGH"}, ValueError, "reasoning_effort"),
        ({"reasoning_effort": 2}, TypeError, "reasoning_effort"),
        ({"stream_function_call_arguments": "true"}, TypeError, "stream_function_call_arguments"),
        ({"reasoning_effort": "low", "thinking_budget": 100}, ValueError, "cannot be used together"),
    ],
)
def test_request_fields_refuse_bad_values(
    options: dict[str, Any], error: type[Exception], words: str
) -> None:
    """A wrong type is a TypeError, a wrong value a ValueError, each naming the option."""
    with pytest.raises(error, match=words):
        gemini.request_fields(**options)


def test_the_sdk_sends_the_documented_body_with_extra_body_fields() -> None:
    """openai-python with extra_body=request_fields(...) POSTs the page's URL and body, byte for byte as JSON."""
    openai = pytest.importorskip("openai")
    sent: list[httpx.Request] = []
    stream = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream)

    client = openai.OpenAI(
        api_key="unused",
        base_url=gemini.vertex_base_url("PROJECT_ID", "us-central1"),
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    fields = gemini.request_fields(thought_tag="think", include_thoughts=True, thinking_budget=10000)
    chunks = client.chat.completions.create(
        model="google/gemini-2.5-flash-preview-04-17",
        messages=DOC_THINKING_BODY["messages"],
        stream=True,
        extra_body=fields,
    )
    completion = chunkwise.http.from_openai(
        chunks, thought_tag=gemini.thought_tag_of(json.loads(sent[0].content))
    )
    assert str(sent[0].url) == DOC_THINKING_URL
    assert json.loads(sent[0].content) == DOC_THINKING_BODY
    # The tag read back from what was sent splits the thinking out of the answer.
    assert completion.message.reasoning_content.startswith("Primes of the form")
    assert "<think>" not in completion.message.content


def test_the_sdk_sends_reasoning_effort_at_the_top_level() -> None:
    """reasoning_effort from request_fields reaches the body's top level through extra_body=."""
    openai = pytest.importorskip("openai")
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(
            200, json={"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]}
        )

    client = openai.OpenAI(
        api_key="k",
        base_url=gemini.GEMINI_API_BASE_URL,
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    fields = gemini.request_fields(reasoning_effort="low", include_thoughts=True)
    client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], extra_body=fields
    )
    assert sent[0]["reasoning_effort"] == "low"
    assert sent[0]["extra_body"] == {"google": {"thinking_config": {"include_thoughts": True}}}


# ---------------------------------------------------------------- thought_tag_of


@pytest.mark.parametrize("tag", ["think", "thought", "reasoning-1"])
def test_thought_tag_of_reads_back_what_request_fields_wrote(tag: str) -> None:
    """The tag request_fields puts in a body is the tag thought_tag_of reads from it."""
    body = {"model": "m", "messages": [], **gemini.request_fields(thought_tag=tag, include_thoughts=True)}
    assert gemini.thought_tag_of(body) == tag
    assert gemini.thought_tag_of(json.loads(json.dumps(body))) == tag


@pytest.mark.parametrize(
    "body",
    [
        None,
        "text",
        [],
        {},
        {"extra_body": None},
        {"extra_body": {"google": {"thinking_config": {"include_thoughts": True}}}},
        {"extra_body": ["google"]},
        {"google": {"thought_tag_marker": "think"}},  # not where the page puts it
        gemini.request_fields(reasoning_effort="low"),
    ],
)
def test_thought_tag_of_is_none_without_the_marker(body: Any) -> None:
    """A body without extra_body.google.thought_tag_marker asks for no tag."""
    assert gemini.thought_tag_of(body) is None


def test_thought_tag_of_refuses_a_marker_the_assembler_cannot_take() -> None:
    """A marker that is empty, has angle brackets or is not a str raises as StreamAssembler would."""
    for marker in ["", "<think>", 1, ["think"]]:
        with pytest.raises(ValueError, match="thought_tag_marker"):
            gemini.thought_tag_of({"extra_body": {"google": {"thought_tag_marker": marker}}})


def test_the_documented_request_and_stream_assemble_with_the_tag_read_from_the_body() -> None:
    """The page's thinking request, its tag read back, splits the <think> fixture as `--thought-tag think` does."""
    body = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()
    expected = json.loads((FIXTURES / "vertex" / "thought-tag-marker-think.expected.json").read_text())
    got = chunkwise.assemble(body, thought_tag=gemini.thought_tag_of(DOC_THINKING_BODY))
    assert got.model_dump(mode="json", exclude_none=True) == expected["completion"]


# ---------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    ("args", "options", "url"),
    [
        (("PROJECT_ID", "us-central1"), {}, DOC_THINKING_URL),
        (("PROJECT_ID",), {}, DOC_STREAM_ARGS_URL),
        (("PROJECT_ID", "global"), {}, DOC_STREAM_ARGS_URL),
        (
            ("PROJECT_ID", "europe-west4"),
            {"version": "v1beta1"},
            "https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/PROJECT_ID/locations/europe-west4/endpoints/openapi/chat/completions",
        ),
        (
            ("PROJECT_ID",),
            {"version": "v1beta1"},
            "https://aiplatform.googleapis.com/v1beta1/projects/PROJECT_ID/locations/global/endpoints/openapi/chat/completions",
        ),
        (  # "Call a self-deployed model"
            ("PROJECT_ID",),
            {"version": "v1beta1", "endpoint": "1234567890"},
            "https://aiplatform.googleapis.com/v1beta1/projects/PROJECT_ID/locations/global/endpoints/1234567890/chat/completions",
        ),
        (
            ("example.com:proj-1", "us-east5"),
            {},
            "https://us-east5-aiplatform.googleapis.com/v1/projects/example.com:proj-1/locations/us-east5/endpoints/openapi/chat/completions",
        ),
    ],
)
def test_vertex_url_gives_the_documented_urls(
    args: tuple[str, ...], options: dict[str, str], url: str
) -> None:
    """Regional and global hosts, v1 and v1beta1, openapi and a self-deployed endpoint, as the page writes them."""
    assert gemini.vertex_url(*args, **options) == url
    assert gemini.vertex_base_url(*args, **options) + "/chat/completions" == url


@pytest.mark.parametrize(
    ("args", "options", "error", "words"),
    [
        (("",), {}, ValueError, "project"),
        (("a/b",), {}, ValueError, "project"),
        (("a b",), {}, ValueError, "project"),
        (("..",), {}, ValueError, "project"),
        (("p?x=1",), {}, ValueError, "project"),
        ((None,), {}, TypeError, "project"),
        (("p", ""), {}, ValueError, "location"),
        (("p", "us-central1/x"), {}, ValueError, "location"),
        (("p",), {"endpoint": ""}, ValueError, "endpoint"),
        (("p",), {"endpoint": "a/../b"}, ValueError, "endpoint"),
        (("p",), {"version": "v2"}, ValueError, "version"),
        (("p",), {"version": "V1"}, ValueError, "version"),
        (("p",), {"version": 1}, TypeError, "version"),
    ],
)
def test_vertex_url_refuses_what_would_change_the_url(
    args: tuple[Any, ...], options: dict[str, Any], error: type[Exception], words: str
) -> None:
    """Empty parts, slashes, spaces, query characters and unknown versions are refused, naming the part."""
    with pytest.raises(error, match=words):
        gemini.vertex_url(*args, **options)


def test_gemini_api_url_and_key_header() -> None:
    """The Gemini API's OpenAI-compatible URL, and its key as a bearer header; a bad key is never quoted."""
    assert (
        gemini.gemini_api_url() == "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"
    )
    assert gemini.gemini_api_headers("AIza-key_1") == {"Authorization": "Bearer AIza-key_1"}
    for bad in ["", "AIza secret", "AIza\nsecret", "AIzaé"]:
        with pytest.raises(ValueError, match="api_key must be") as caught:
            gemini.gemini_api_headers(bad)
        assert not bad or bad not in str(caught.value)
    with pytest.raises(TypeError):
        gemini.gemini_api_headers(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------- extra_content and tool messages


def test_extra_content_in_the_three_documented_places() -> None:
    """extra_content() spreads into a message, a content part and a tool call as the page's examples nest it."""
    message = {"role": "user", "content": "hi", **gemini.extra_content(foo="bar")}
    part = {"type": "text", "text": "hi", **gemini.extra_content(thought_signature="s1")}
    call = {"id": "c", "type": "function", **gemini.extra_content(thought_signature="s2")}
    assert message["extra_content"] == {"google": {"foo": "bar"}}
    assert gemini.thought_signature_of(part) == "s1"
    assert gemini.thought_signature_of(call) == "s2"
    assert gemini.thought_signature_of(message) is None


def test_thought_signature_of_reads_dicts_and_models() -> None:
    """The signature of an assembled call or message, of a sent dict, under google or vertex; else None."""
    completion = chunkwise.assemble((FIXTURES / "vertex" / "parallel-tool-calls.sse").read_bytes())
    first, second = completion.message.tool_calls or []
    assert gemini.thought_signature_of(first) == "..."
    assert gemini.thought_signature_of(second) is None
    assert gemini.thought_signature_of(completion.message) is None
    sent = completion.message.to_request_message()
    assert [gemini.thought_signature_of(c) for c in sent["tool_calls"]] == ["...", None]
    assert gemini.thought_signature_of({"extra_content": {"vertex": {"thought_signature": "v"}}}) == "v"
    for nothing in [
        {},
        {"extra_content": None},
        {"extra_content": {"google": {"thought_signature": ""}}},
        3,
        None,
    ]:
        assert gemini.thought_signature_of(nothing) is None


def test_tool_message_with_file_data_is_the_documented_multimodal_function_response() -> None:
    """tool_message + file_data give the page's tool message, field for field."""
    from test_tool_turn import DOC_MULTIMODAL_REQUEST  # the page's request, transcribed once

    documented = DOC_MULTIMODAL_REQUEST["messages"][2]
    part = gemini.file_data(
        "gs://cloud-samples-data/generative-ai/image/dress.jpg", "image/jpg", display_name="dress.jpg"
    )
    built = gemini.tool_message(
        documented["tool_call_id"], {"image_ref": {"$ref": "dress.jpg"}}, parts=[part]
    )
    assert built == documented
    assert json.dumps(built) == json.dumps(documented)  # the same key order too
    assert gemini.tool_message("c", "plain text") == {
        "role": "tool",
        "tool_call_id": "c",
        "content": "plain text",
    }


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: gemini.tool_message("", "x"), ValueError),
        (lambda: gemini.tool_message("c", float("nan")), TypeError),
        (lambda: gemini.tool_message("c", {1j}), TypeError),
        (lambda: gemini.tool_message("c", "x", parts={"file_data": {}}), TypeError),
        (lambda: gemini.tool_message("c", "x", parts=["file_data"]), TypeError),
        (lambda: gemini.file_data("", "image/png"), ValueError),
        (lambda: gemini.file_data("gs://b/o", None), TypeError),  # type: ignore[arg-type]
    ],
)
def test_tool_message_refuses_bad_input(call: Callable[[], Any], error: type[Exception]) -> None:
    """No id, a result that is not JSON data, parts that are not a list of dicts, an empty file uri."""
    with pytest.raises(error):
        call()


def parallel_message() -> chunkwise.Message:
    return chunkwise.assemble((FIXTURES / "vertex" / "parallel-tool-calls.sse").read_bytes()).message


A = "function-call-c855348a-459a-46a4-a8ad-aa0a4e7c3563"
B = "function-call-df0d087c-ad74-46f1-ba4a-9353cbf288a8"


def test_tool_results_answer_every_call_in_call_order() -> None:
    """Results given in any order come back as tool messages in the order of the calls."""
    message = parallel_message()
    out = gemini.tool_results(
        message, {B: {"t": 31}, A: "8 C"}, parts={B: [gemini.file_data("gs://b/o", "image/png")]}
    )
    assert [m["tool_call_id"] for m in out] == [A, B]
    assert out[0] == {"role": "tool", "tool_call_id": A, "content": "8 C"}
    assert out[1]["content"] == '{"t":31}'
    assert out[1]["extra_content"] == {
        "google": {"parts": [{"file_data": {"mime_type": "image/png", "file_uri": "gs://b/o"}}]}
    }
    # The same from the ChatCompletion, and from the message as sent.
    completion = chunkwise.assemble((FIXTURES / "vertex" / "parallel-tool-calls.sse").read_bytes())
    assert gemini.tool_results(completion, {A: 1, B: 2}) == gemini.tool_results(
        message.to_request_message(), {A: 1, B: 2}
    )


@pytest.mark.parametrize(
    ("results", "parts", "words"),
    [
        ({A: 1}, None, f"no result for call\\(s\\) {B}"),
        ({A: 1, B: 2, "x": 3}, None, "result\\(s\\) for no call: x"),
        ({}, None, f"no result for call\\(s\\) {A}, {B}"),
        ({A: 1, B: 2}, {"y": []}, "parts for no call: y"),
    ],
)
def test_tool_results_refuse_a_missing_or_extra_id(results: dict[str, Any], parts: Any, words: str) -> None:
    """Every call must be answered and every result must answer a call; the error lists the calls."""
    with pytest.raises(ValueError, match=words) as caught:
        gemini.tool_results(parallel_message(), results, parts=parts)
    assert f"(the calls, in order: {A}, {B})" in str(caught.value)


def test_tool_results_refuse_calls_that_cannot_be_matched() -> None:
    """A call without an id (Gemini API's "id": "") or two calls with one id cannot be matched to results."""
    no_id = {"role": "assistant", "tool_calls": [{"id": "", "type": "function"}]}
    with pytest.raises(ValueError, match="call 0 has no id"):
        gemini.tool_results(no_id, {"": 1})
    twice = {"role": "assistant", "tool_calls": [{"id": "a"}, {"id": "a"}]}
    with pytest.raises(ValueError, match="share the id 'a'"):
        gemini.tool_results(twice, {"a": 1})
    with pytest.raises(TypeError):
        gemini.tool_results(parallel_message(), [1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gemini.tool_results("message", {})  # type: ignore[arg-type]
    assert gemini.tool_results({"role": "assistant", "content": "no calls"}, {}) == []


def test_gemini_imports_without_httpx() -> None:
    """`import chunkwise.gemini` works with httpx unavailable and imports no httpx."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("httpx", "anyio"):
            raise ModuleNotFoundError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
from chunkwise import gemini
assert gemini.request_fields(thought_tag="think")["extra_body"]["google"]["thought_tag_marker"] == "think"
assert not any(m.split(".")[0] in ("httpx", "anyio") for m in sys.modules)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# ---------------------------------------------------------------- GoogleAuth

TOKEN = "ya29.a0-SECRET-token_1"
PRINT_FILE = "import sys; print(open(sys.argv[1]).read())"
FRESH = "ya29.b1-SECRET-token_2"


class TokenCommand:
    """A command printing the token held in a file, and counting its runs (the token is not in argv)."""

    def __init__(self, tmp_path: Path, token: str = TOKEN) -> None:
        self.file, self.runs = tmp_path / "token", tmp_path / "runs"
        self.file.write_text(token)
        script = "import sys; open(sys.argv[2], 'a').write('x'); print(open(sys.argv[1]).read())"
        self.argv = [sys.executable, "-c", script, str(self.file), str(self.runs)]

    @property
    def count(self) -> int:
        return len(self.runs.read_text()) if self.runs.exists() else 0


class Server:
    """A MockTransport handler: 401 for every token but the ones accepted; keeps the Authorization seen."""

    def __init__(self, *accepted: str) -> None:
        self.accepted, self.seen = set(accepted), []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.headers.get("authorization"), json.loads(request.content or b"null")))
        if request.headers.get("authorization", "").removeprefix("Bearer ") in self.accepted:
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, json=[{"error": {"code": 401, "status": "UNAUTHENTICATED"}}])


def test_auth_sends_the_token_from_the_environment_and_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """env=: the variable's token goes out as a bearer token, read once while the server accepts it."""
    monkeypatch.setenv("VERTEX_TOKEN", f"  {TOKEN}\n")
    server = Server(TOKEN)
    auth = GoogleAuth(env="VERTEX_TOKEN")
    with httpx.Client(transport=httpx.MockTransport(server), auth=auth) as client:
        assert client.post("https://x.test/a", json={"n": 1}).status_code == 200
        monkeypatch.setenv("VERTEX_TOKEN", FRESH)
        assert client.post("https://x.test/a", json={"n": 2}).status_code == 200
    assert server.seen == [(f"Bearer {TOKEN}", {"n": 1}), (f"Bearer {TOKEN}", {"n": 2})]


def test_auth_runs_the_command_once_and_caches(tmp_path: Path) -> None:
    """command=: run without a shell, once; its token is sent on every request after."""
    command = TokenCommand(tmp_path)
    server = Server(TOKEN)
    with httpx.Client(transport=httpx.MockTransport(server), auth=GoogleAuth(command=command.argv)) as client:
        for _ in range(3):
            assert client.get("https://x.test/").status_code == 200
    assert command.count == 1 and [seen[0] for seen in server.seen] == [f"Bearer {TOKEN}"] * 3


def test_auth_takes_a_command_line_as_a_string(tmp_path: Path) -> None:
    """A string command is split as a shell would split it, and still run without a shell."""
    command = TokenCommand(tmp_path)
    line = shlex.join(command.argv)  # quoted as a shell would need it
    with httpx.Client(transport=httpx.MockTransport(Server(TOKEN)), auth=GoogleAuth(command=line)) as client:
        assert client.get("https://x.test/").status_code == 200


def test_auth_renews_once_after_a_401_and_retries_the_same_request(tmp_path: Path) -> None:
    """An expired token: 401, a new token from the command, the same request (body too) sent again, 200."""
    command = TokenCommand(tmp_path)
    server = Server(FRESH)
    auth = GoogleAuth(command=command.argv)
    with httpx.Client(transport=httpx.MockTransport(server), auth=auth) as client:
        server.accepted = {TOKEN}
        assert client.post("https://x.test/", json={"n": 0}).status_code == 200
        server.accepted = {FRESH}  # the first token expires
        command.file.write_text(FRESH)
        response = client.post("https://x.test/", json={"n": 1})
        assert response.status_code == 200 and [r.status_code for r in response.history] == [401]
        assert client.post("https://x.test/", json={"n": 2}).status_code == 200
    assert server.seen == [
        (f"Bearer {TOKEN}", {"n": 0}),
        (f"Bearer {TOKEN}", {"n": 1}),
        (f"Bearer {FRESH}", {"n": 1}),
        (f"Bearer {FRESH}", {"n": 2}),
    ]
    assert command.count == 2


def test_auth_retries_only_once(tmp_path: Path) -> None:
    """A second 401 (the new token refused too) is returned as it came: two requests, not more."""
    runs = tmp_path / "runs"
    # Each run prints a token never seen before: only the one-retry rule stops the requests.
    script = "import sys; f = open(sys.argv[1], 'a+'); f.write('x'); f.seek(0); print('ya29.run' + str(len(f.read())))"
    server = Server()  # refuses every token
    auth = GoogleAuth(command=[sys.executable, "-c", script, str(runs)])
    with httpx.Client(transport=httpx.MockTransport(server), auth=auth) as client:
        response = client.get("https://x.test/")
    assert response.status_code == 401 and [r.status_code for r in response.history] == [401]
    assert [seen[0] for seen in server.seen] == ["Bearer ya29.run1", "Bearer ya29.run2"]


def test_auth_does_not_retry_when_no_newer_token_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    """env= only: after a 401 the variable holds the same token, so the 401 is returned without a retry."""
    monkeypatch.setenv("VERTEX_TOKEN", TOKEN)
    server = Server()
    with httpx.Client(transport=httpx.MockTransport(server), auth=GoogleAuth(env="VERTEX_TOKEN")) as client:
        response = client.get("https://x.test/")
    assert response.status_code == 401 and response.history == [] and len(server.seen) == 1


def test_auth_does_not_retry_when_the_command_gives_the_refused_token(tmp_path: Path) -> None:
    """command=: after a 401 the command prints the same token again, so the 401 is returned without a retry."""
    command = TokenCommand(tmp_path)
    server = Server()
    with httpx.Client(transport=httpx.MockTransport(server), auth=GoogleAuth(command=command.argv)) as client:
        response = client.get("https://x.test/")
    assert response.status_code == 401 and response.history == [] and len(server.seen) == 1
    assert command.count == 2  # it did ask for a new one


def test_auth_renews_once_for_requests_refused_together(tmp_path: Path) -> None:
    """Two requests refused with the same expired token: the first renews it, the second reuses the new one."""
    command = TokenCommand(tmp_path)
    auth = GoogleAuth(command=command.argv)
    flows = [auth.sync_auth_flow(httpx.Request("GET", f"https://x.test/{n}")) for n in range(2)]
    sent = [next(flow) for flow in flows]  # both in flight with the first token
    assert [r.headers["authorization"] for r in sent] == [f"Bearer {TOKEN}"] * 2
    command.file.write_text(FRESH)
    retried = [flow.send(httpx.Response(401, request=r)) for flow, r in zip(flows, sent, strict=True)]
    assert [r.headers["authorization"] for r in retried] == [f"Bearer {FRESH}"] * 2
    assert command.count == 2  # one run for the first token, one for the renewal


def test_auth_error_never_quotes_the_refused_token(tmp_path: Path) -> None:
    """A renewal command that fails and echoes the refused token on stderr: the error shows it redacted."""
    command = TokenCommand(tmp_path)
    script = (
        "import sys; t = open(sys.argv[1]).read(); runs = open(sys.argv[2], 'a+'); runs.write('x'); runs.seek(0)\n"
        "if len(runs.read()) > 1: sys.exit('token ' + t + ' was revoked')\n"
        "print(t)"
    )
    auth = GoogleAuth(command=[sys.executable, "-c", script, str(command.file), str(command.runs)])
    with (
        httpx.Client(transport=httpx.MockTransport(Server()), auth=auth) as client,
        pytest.raises(GoogleAuthError) as caught,
    ):
        client.get("https://x.test/")
    assert "exited 1: token [redacted] was revoked" in str(caught.value) and TOKEN not in str(caught.value)


def test_auth_falls_back_from_the_variable_to_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """env= and command=: the variable first; the command when the variable's token is refused (or unset)."""
    monkeypatch.setenv("VERTEX_TOKEN", TOKEN)
    command = TokenCommand(tmp_path, FRESH)
    server = Server(FRESH)
    with httpx.Client(
        transport=httpx.MockTransport(server), auth=GoogleAuth(env="VERTEX_TOKEN", command=command.argv)
    ) as client:
        assert client.get("https://x.test/").status_code == 200
    assert [seen[0] for seen in server.seen] == [f"Bearer {TOKEN}", f"Bearer {FRESH}"] and command.count == 1
    monkeypatch.delenv("VERTEX_TOKEN")
    with httpx.Client(
        transport=httpx.MockTransport(Server(FRESH)),
        auth=GoogleAuth(env="VERTEX_TOKEN", command=command.argv),
    ) as client:
        assert client.get("https://x.test/").status_code == 200


def test_async_auth_renews_after_a_401(tmp_path: Path) -> None:
    """The async flow: the command runs off the event loop, and a 401 renews and retries once."""
    command = TokenCommand(tmp_path)
    server = Server(TOKEN)
    auth = GoogleAuth(command=command.argv)

    async def main() -> list[int]:
        codes = []
        async with httpx.AsyncClient(transport=httpx.MockTransport(server), auth=auth) as client:
            codes.append((await client.post("https://x.test/", json={"n": 0})).status_code)
            server.accepted = {FRESH}
            command.file.write_text(FRESH)
            response = await client.post("https://x.test/", json={"n": 1})
            codes += [r.status_code for r in response.history] + [response.status_code]
            server.accepted = set()
            command.file.write_text("ya29.third")
            response = await client.post("https://x.test/", json={"n": 2})
            codes += [r.status_code for r in response.history] + [response.status_code]
        return codes

    assert asyncio.run(main()) == [200, 401, 200, 401, 401]
    assert [seen[0] for seen in server.seen] == [
        f"Bearer {TOKEN}",
        f"Bearer {TOKEN}",
        f"Bearer {FRESH}",
        f"Bearer {FRESH}",
        "Bearer ya29.third",
    ]


def test_auth_with_the_openai_sdk_replaces_its_api_key(tmp_path: Path) -> None:
    """openai-python with http_client=httpx.Client(auth=GoogleAuth()): the request carries the Google token."""
    openai = pytest.importorskip("openai")
    command = TokenCommand(tmp_path)
    server = Server(TOKEN)
    client = openai.OpenAI(
        api_key="unused",
        base_url=gemini.vertex_base_url("PROJECT_ID"),
        http_client=httpx.Client(
            transport=httpx.MockTransport(server), auth=GoogleAuth(command=command.argv)
        ),
    )
    client.with_raw_response.chat.completions.create(
        model="google/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
    )
    assert server.seen[0][0] == f"Bearer {TOKEN}"


def fails(auth: GoogleAuth) -> GoogleAuthError:
    with (
        httpx.Client(transport=httpx.MockTransport(Server(TOKEN)), auth=auth) as client,
        pytest.raises(GoogleAuthError) as caught,
    ):
        client.get("https://x.test/")
    assert isinstance(caught.value, chunkwise.ChunkwiseError)
    return caught.value


def test_auth_errors_say_what_went_wrong_and_never_quote_the_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Missing command, failing command (its stdout held a token), timeout, two lines, unset variable."""
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    missing = fails(GoogleAuth(command=["chunkwise-no-such-command-xyz"]))
    assert "'chunkwise-no-such-command-xyz' was not found" in str(missing)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    script = "import sys; print(open(sys.argv[1]).read()); sys.stderr.write('Reauthentication required.'); sys.exit(3)"
    failing = fails(GoogleAuth(command=[sys.executable, "-c", script, str(token_file)]))
    assert "exited 3: Reauthentication required." in str(failing)
    slow = fails(GoogleAuth(command=[sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.3))
    assert "did not finish within 0.3 s" in str(slow)
    two_lines_file = tmp_path / "two-lines"
    two_lines_file.write_text(f"{TOKEN}\nwarning\n")
    two_lines = fails(GoogleAuth(command=[sys.executable, "-c", PRINT_FILE, str(two_lines_file)]))
    assert "must give one token on one line" in str(two_lines)
    unset = fails(GoogleAuth(env="NO_SUCH_TOKEN_VAR"))
    assert "NO_SUCH_TOKEN_VAR is not set or empty" in str(unset)
    monkeypatch.setenv("SPACED_TOKEN", "ya29 secret")
    assert "ya29 secret" not in str(fails(GoogleAuth(env="SPACED_TOKEN")))
    for error in (missing, failing, slow, two_lines, unset):
        assert TOKEN not in str(error) and TOKEN not in repr(error)


def test_auth_gcloud_missing_names_the_way_out() -> None:
    """The default command, when gcloud is not installed, says to install it or use env=."""
    auth = GoogleAuth()
    assert repr(auth) == "GoogleAuth(env=None, command='gcloud auth print-access-token', token=<none yet>)"
    env = {k: v for k, v in os.environ.items() if k != "PATH"} | {"PATH": "/nonexistent"}
    code = (
        "import httpx\nfrom chunkwise._google_auth import GoogleAuth, GoogleAuthError\n"
        "c = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)), auth=GoogleAuth())\n"
        "try:\n    c.get('https://x.test/')\nexcept GoogleAuthError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert (
        "cannot run 'gcloud auth print-access-token': 'gcloud' was not found (install the Google Cloud CLI"
        in proc.stdout
    ), proc.stderr


def test_auth_repr_never_shows_the_token(tmp_path: Path) -> None:
    """After a token is cached, the repr says so without showing it."""
    command = TokenCommand(tmp_path)
    auth = GoogleAuth(command=command.argv)
    with httpx.Client(transport=httpx.MockTransport(Server(TOKEN)), auth=auth) as client:
        client.get("https://x.test/")
    assert (
        "token=<cached>" in repr(auth)
        and TOKEN not in repr(auth)
        and TOKEN not in str(vars(auth).get("_argv"))
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"env": ""}, ValueError),
        ({"env": "A=B"}, ValueError),
        ({"command": ""}, ValueError),
        ({"command": []}, ValueError),
        ({"command": [1, 2]}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"timeout": True}, ValueError),
    ],
)
def test_auth_refuses_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    """An empty variable name or command, a non-str argument, a timeout that is not > 0."""
    with pytest.raises(error):
        GoogleAuth(**options)


# ---------------------------------------------------------------- the wiring (StreamAssembler.for_request, stream_chat)


def test_for_request_takes_the_tag_the_body_asks_for() -> None:
    """StreamAssembler.for_request(body) splits <think> when the body set thought_tag_marker, and only then."""
    stream = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()
    asked = {"messages": [], **gemini.request_fields(thought_tag="think", include_thoughts=True)}
    assembler = chunkwise.StreamAssembler.for_request(asked)
    assembler.feed_bytes(stream)
    assembler.close()
    assert assembler.completion.message.reasoning_content.startswith("Primes of the form")
    plain = chunkwise.StreamAssembler.for_request({"messages": []})
    plain.feed_bytes(stream)
    plain.close()
    assert plain.completion.message.content.startswith("<think>")
    quiet = chunkwise.StreamAssembler.for_request(asked, thought_tag="think", emit_events=False)
    assert quiet.feed_bytes(stream) == []  # the same tag given again, and the other options, are taken
    with pytest.raises(ValueError, match="asks the server for 'think'"):
        chunkwise.StreamAssembler.for_request(asked, thought_tag="thought")
    with pytest.raises(ValueError, match="thought_tag_marker"):
        chunkwise.StreamAssembler.for_request({"extra_body": {"google": {"thought_tag_marker": "<x>"}}})


def test_stream_chat_takes_the_tag_from_the_body_by_default() -> None:
    """stream_chat/astream_chat without thought_tag split the thinking the body asked to be tagged."""
    stream = (FIXTURES / "vertex" / "thought-tag-marker-think.sse").read_bytes()
    transport = httpx.MockTransport(
        lambda _: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream)
    )
    body = {"model": "m", "messages": [], **gemini.request_fields(thought_tag="think"), "stream": True}
    with (
        httpx.Client(transport=transport) as client,
        chunkwise.http.stream_chat(client, "https://x.test/", json=body) as s,
    ):
        assert s.until_done().message.reasoning_content.startswith("Primes of the form")

    async def main() -> chunkwise.ChatCompletion:
        async with (
            httpx.AsyncClient(transport=transport) as client,
            chunkwise.http.astream_chat(client, "https://x.test/", json=body) as s,
        ):
            return await s.until_done()

    assert asyncio.run(main()).message.reasoning_content.startswith("Primes of the form")
    unasked = {**body, "extra_body": {}}
    with (
        httpx.Client(transport=transport) as client,
        chunkwise.http.stream_chat(client, "https://x.test/", json=unasked) as s,
    ):
        assert s.until_done().message.content.startswith("<think>")


# ---------------------------------------------------------------- review findings, pinned


@pytest.mark.parametrize(
    "location", ["a:b", "evil.example:443", "Global", "us-central1.", "-x", "us_central1"]
)
def test_a_location_that_would_change_the_host_is_refused(location: str) -> None:
    """The location is part of the host name: only lowercase words joined by '-' are taken."""
    with pytest.raises(ValueError, match="location"):
        gemini.vertex_url("my-project", location)


@pytest.mark.parametrize("tag", [" think", "think\n", "th ink", "a/b", "", "<think>"])
def test_one_rule_for_a_tag_name(tag: str) -> None:
    """The assembler, the request fields and the strategies refuse the same tag names."""
    from hypothesis.errors import InvalidArgument

    from chunkwise import strategies as cs

    with pytest.raises(ValueError, match="tag"):
        chunkwise.StreamAssembler(thought_tag=tag)
    with pytest.raises(ValueError, match="tag"):
        gemini.request_fields(thought_tag=tag)
    with pytest.raises(ValueError, match="thought_tag_marker"):
        gemini.thought_tag_of({"extra_body": {"google": {"thought_tag_marker": tag}}})
    with pytest.raises(InvalidArgument):
        cs.completion_streams(thought_tag=tag).validate()


def test_tool_results_of_a_completion_without_choices_and_for_request_of_text() -> None:
    with pytest.raises(ValueError, match="no choice"):
        gemini.tool_results(chunkwise.ChatCompletion(), {})
    with pytest.raises(TypeError, match="mapping"):
        chunkwise.StreamAssembler.for_request('{"extra_body": {"google": {"thought_tag_marker": "think"}}}')
