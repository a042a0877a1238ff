"""chunkwise.pytest_plugin: the fixtures and the marker, as a user's suite runs them (through pytester)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from helpers import FIXTURES

pytest_plugins = ["pytester"]

VERTEX = FIXTURES / "vertex" / "parallel-tool-calls.sse"

# What a user's test file starts with: the recording by absolute path, the names the tests use.
PRELUDE = f"""
import json, socket, threading, time
from pathlib import Path
import pytest
VERTEX = Path({str(VERTEX)!r})
FIXTURES = Path({str(FIXTURES)!r})
BODY = {{"model": "any", "messages": [{{"role": "user", "content": "hi"}}], "stream": True}}
CITIES = ["Boston, MA", "New Delhi, India"]

def cities(completion):
    return [json.loads(call.function.arguments)["location"] for call in completion.choices[0].message.tool_calls]
"""


def refuses(url: str) -> bool:
    """Whether nothing listens at the host and port of ``url`` any more."""
    host, port = url.removeprefix("http://").removesuffix("/v1").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_entry_point_names_the_plugin() -> None:
    """pytest11 lists `chunkwise = chunkwise.pytest_plugin`, so pytest loads it with no -p or conftest."""
    (found,) = [e for e in entry_points(group="pytest11") if e.name == "chunkwise"]
    assert found.value == "chunkwise.pytest_plugin"


def test_transport_fixture_replays_with_pieces_and_faults(pytester: pytest.Pytester) -> None:
    """chunkwise_transport gives ReplayTransports (path or bytes) whose pieces and faults reach the client."""
    pytester.makepyfile(
        PRELUDE
        + """
import httpx
import chunkwise
from chunkwise.http import stream_chat
from chunkwise.replay import Drop, ReplayTransport

def test_loaded_by_the_entry_point(request):
    import chunkwise.pytest_plugin
    assert request.config.pluginmanager.get_plugin("chunkwise") is chunkwise.pytest_plugin

def test_path_in_bytes(chunkwise_transport):
    transport = chunkwise_transport(VERTEX, pieces="bytes")
    assert isinstance(transport, ReplayTransport) and transport.pieces == "bytes"
    with httpx.Client(transport=transport) as client:
        with stream_chat(client, "https://example.invalid/v1/chat/completions", json=BODY) as stream:
            assert cities(stream.until_done()) == CITIES

def test_bytes_with_a_drop(chunkwise_transport):
    transport = chunkwise_transport(VERTEX.read_bytes(), pieces="lines", fault=Drop(after=300))
    with httpx.Client(transport=transport) as client:
        with stream_chat(client, "https://example.invalid/v1/chat/completions", json=BODY) as stream:
            with pytest.raises(chunkwise.IncompleteStreamError) as caught:
                stream.until_done()
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)

def test_a_wrong_option_is_the_transports_error(chunkwise_transport):
    with pytest.raises(ValueError, match="pieces"):
        chunkwise_transport(VERTEX, pieces="halves")
"""
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=4)


def test_server_fixture_serves_then_stops_even_after_a_failure(pytester: pytest.Pytester) -> None:
    """chunkwise_server serves a file or a folder to the openai SDK and httpx; every server it started
    refuses connections once its test is over, failed or passed."""
    urls = pytester.path / "urls.txt"
    pytester.makepyfile(
        PRELUDE
        + f"""
import httpx, openai
import chunkwise
from chunkwise.http import from_openai, stream_chat
from chunkwise.replay import Drop

URLS = Path({str(urls)!r})

def note(url):
    with URLS.open("a") as out:
        out.write(url + "\\n")

def test_a_file_to_the_openai_sdk(chunkwise_server):
    url = chunkwise_server(VERTEX, pieces="random", seed=5)
    note(url)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    assert cities(from_openai(client.chat.completions.create(**BODY))) == CITIES

def test_a_folder_by_model_and_a_fault(chunkwise_server):
    folder = chunkwise_server(FIXTURES)
    dropped = chunkwise_server(VERTEX, pieces="lines", fault=Drop(after=300))
    note(folder)
    note(dropped)
    with httpx.Client() as client:
        body = dict(BODY, model="vertex/parallel-tool-calls")
        with stream_chat(client, folder + "/chat/completions", json=body) as stream:
            assert cities(stream.until_done()) == CITIES
        with stream_chat(client, dropped + "/chat/completions", json=BODY) as stream:
            with pytest.raises(chunkwise.IncompleteStreamError):
                stream.until_done()

def test_fails_with_its_server_running(chunkwise_server):
    note(chunkwise_server(VERTEX))
    assert False, "the user's test fails"

def test_wrong_options_raise_at_the_call(chunkwise_server, tmp_path):
    with pytest.raises(ValueError, match="pieces"):
        chunkwise_server(VERTEX, pieces="halves")
    with pytest.raises(ValueError, match="delay"):
        chunkwise_server(VERTEX, delay=-1)
    with pytest.raises(TypeError, match="fault"):
        chunkwise_server(VERTEX, fault="drop")
    with pytest.raises(TypeError, match="recording"):
        chunkwise_server(VERTEX.read_bytes())
    with pytest.raises(ValueError, match="no .sse or .jsonl"):
        chunkwise_server(tmp_path)
"""
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*the user's test fails*"])
    served = urls.read_text().split()
    assert len(served) == 4 and len(set(served)) == 4
    assert all(refuses(url) for url in served)


def test_server_stop_cuts_a_reply_still_being_sent(pytester: pytest.Pytester) -> None:
    """A reply stalled for a minute ends with its test: the client reads the end of the connection at once."""
    pytester.makepyfile(
        PRELUDE
        + """
from chunkwise.replay import Stall
LEFT_OPEN = []

def test_leaves_a_stalled_reply(chunkwise_server):
    url = chunkwise_server(VERTEX, pieces="whole", fault=Stall(60, after=100))
    host, port = url.removeprefix("http://").removesuffix("/v1").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2\\r\\n\\r\\n{}")
    assert sock.recv(1 << 16).startswith(b"HTTP/1.1 200")
    LEFT_OPEN.append(sock)

def test_the_reply_was_cut():
    (sock,) = LEFT_OPEN
    started = time.monotonic()
    while sock.recv(1 << 16):
        pass
    assert time.monotonic() - started < 5
    sock.close()
"""
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_marker_runs_the_test_per_recording(pytester: pytest.Pytester) -> None:
    """@pytest.mark.chunkwise_recordings: one test per .sse/.jsonl file, sorted, ids relative to the folder,
    relative paths from the test file's folder (not the working directory); strict markers accept it."""
    recordings = pytester.path / "tests" / "recordings"
    (recordings / "vertex").mkdir(parents=True)
    shutil.copy(VERTEX, recordings / "vertex")
    shutil.copy(FIXTURES / "openai-style" / "parallel-calls-all-at-index-0.sse", recordings / "b.sse")
    (recordings / "a.jsonl").write_text(
        '{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n'
    )
    (recordings / "notes.txt").write_text("not a recording")
    pytester.makepyfile(
        **{
            "tests/test_each": PRELUDE
            + """
import chunkwise
from chunkwise.pytest_plugin import recordings
from chunkwise.replay import load

@pytest.mark.chunkwise_recordings("recordings")
def test_each(chunkwise_recording):
    assert chunkwise_recording.is_absolute()
    assert chunkwise.assemble(load(chunkwise_recording)).choices[0].finish_reason in ("stop", "tool_calls")

@pytest.mark.chunkwise_recordings(VERTEX, "recordings/b.sse")
def test_files(chunkwise_recording, chunkwise_server):
    assert chunkwise_server(chunkwise_recording).endswith("/v1")

@pytest.mark.parametrize("recording", recordings(Path(__file__).parent / "recordings" / "vertex"))
def test_helper(recording):
    assert recording == Path(__file__).parent / "recordings" / "vertex" / "parallel-tool-calls.sse"

pytestmark = pytest.mark.chunkwise_recordings("recordings")

def test_without_the_fixture():
    pass

@pytest.mark.chunkwise_recordings("recordings/vertex")
@pytest.mark.chunkwise_recordings("again/vertex")
def test_stacked(chunkwise_recording):
    pass
"""
        }
    )
    (pytester.path / "tests" / "again").mkdir()
    shutil.copytree(recordings / "vertex", pytester.path / "tests" / "again" / "vertex")
    result = pytester.runpytest("--strict-markers", "-v", "tests")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines_random(
        [
            "*test_each[[]a.jsonl[]] PASSED*",
            "*test_each[[]b.sse[]] PASSED*",
            "*test_each[[]vertex/parallel-tool-calls.sse[]] PASSED*",
            "*test_files[[]parallel-tool-calls.sse[]] PASSED*",
            "*test_files[[]b.sse[]] PASSED*",
            "*test_helper[[]parallel-tool-calls.sse[]] PASSED*",
            "*test_without_the_fixture PASSED*",
            # Stacked markers add their folders (two folders named alike: pytest numbers the ids).
            "*test_stacked[[]vertex/parallel-tool-calls.sse0[]] PASSED*",
            "*test_stacked[[]vertex/parallel-tool-calls.sse1[]] PASSED*",
        ]
    )
    markers = pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.chunkwise_recordings(*paths)" in markers


def test_marker_mistakes_are_named(pytester: pytest.Pytester) -> None:
    """A missing or empty folder is a collection error naming the test and the path; the fixture
    without the marker is a setup error saying what it needs."""
    (pytester.path / "empty").mkdir()
    pytester.makepyfile(
        test_missing="""
import pytest
@pytest.mark.chunkwise_recordings("nowhere")
def test_it(chunkwise_recording):
    pass
""",
        test_empty="""
import pytest
@pytest.mark.chunkwise_recordings("empty")
def test_it(chunkwise_recording):
    pass
""",
        test_unmarked="""
def test_it(chunkwise_recording):
    pass
""",
    )
    result = pytester.runpytest("--strict-markers", "--continue-on-collection-errors")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines_random(
        [
            "*chunkwise_recordings on test_missing.py::test_it: *nowhere: no such file or folder",
            "*chunkwise_recordings on test_empty.py::test_it: *empty: no .sse or .jsonl recordings in this folder",
            "*chunkwise_recording is given by @pytest.mark.chunkwise_recordings(folder)*has none",
        ]
    )


def test_without_httpx_the_server_works_and_the_transport_says_why_not(pytester: pytest.Pytester) -> None:
    """With httpx missing, pytest still starts with the plugin, chunkwise_server works (standard library
    only), and chunkwise_transport is a setup error naming the extra to install."""
    pytester.makeconftest(
        """
import sys
assert "httpx" not in sys.modules, "the plugin imported httpx"
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "httpx":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
"""
    )
    pytester.makepyfile(
        PRELUDE
        + """
import urllib.request

def test_transport(chunkwise_transport):
    pass

def test_server(chunkwise_server):
    url = chunkwise_server(VERTEX, pieces="bytes")
    body = json.dumps(dict(BODY, stream=False)).encode()
    with urllib.request.urlopen(url + "/chat/completions", data=body, timeout=10) as response:
        completion = json.load(response)
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
"""
    )
    result = pytester.runpytest_subprocess("--strict-markers")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ['*chunkwise_transport needs httpx, which is not installed: pip install "chunkwise[[]http[]]"']
    )


IMPORT_ONLY = """
import sys
import chunkwise.pytest_plugin
heavy = ("httpx", "anyio", "hypothesis", "openai", "http.server", "socketserver", "chunkwise._serve", "chunkwise.replay",
         "pydantic", "pydantic_core", "chunkwise._assembler", "chunkwise._models")
print(sorted(m for m in heavy if m in sys.modules))
"""


def test_importing_the_plugin_loads_nothing_heavy() -> None:
    """The plugin loads in every pytest session: importing it adds no httpx, hypothesis or server code,
    and not even chunkwise's core or pydantic (the package imports its names on first use)."""
    proc = subprocess.run([sys.executable, "-c", IMPORT_ONLY], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_stop_ends_a_reply_in_the_middle_of_a_stall_or_a_delay() -> None:
    """The server fixture's stop wakes a reply sleeping through a Stall or a delay, so its handler
    thread does not outlive the test by the rest of the pause (hostile review: 3.8 s, or an hour)."""
    import threading
    import time
    from urllib.parse import urlsplit

    from chunkwise._serve import Options, Recordings, Stall
    from chunkwise.pytest_plugin import _Running

    recording = FIXTURES / "vertex" / "parallel-tool-calls.sse"
    body = b'{"stream": true}'
    for options in (Options(fault=Stall(60, after=100)), Options(pieces=10, delay=60.0)):
        before = set(threading.enumerate())
        server = _Running(Recordings(recording), options)
        address = urlsplit(server.url)
        # A plain socket, not httpx: other tests reload modules, and the reply is never read whole.
        with socket.create_connection((address.hostname, address.port), timeout=5) as client:
            client.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            assert client.recv(65536).startswith(b"HTTP/1.1 200")  # the reply began, then pauses
        started = time.monotonic()
        server.stop()
        handlers = [t for t in set(threading.enumerate()) - before if t.is_alive()]
        for thread in handlers:
            thread.join(timeout=5)
        assert not [t for t in handlers if t.is_alive()], options
        assert time.monotonic() - started < 3, options


@pytest.mark.parametrize("seconds", [float("inf"), 1e300, -1.0, float("nan"), 86_401])
def test_pauses_are_bounded_where_they_are_given(seconds: float) -> None:
    """A pause past a day overflowed the platform's sleep on every request (an OverflowError
    traceback, a cut stream); it is refused where it is given: Stall, Options, the CLI."""
    from chunkwise._cli import main
    from chunkwise._serve import Options, Stall

    with pytest.raises(ValueError, match="from 0 to 86400"):
        Stall(seconds)
    with pytest.raises(ValueError, match="from 0 to 86400"):
        Options(delay=seconds)
    assert main(["serve", str(FIXTURES), "--delay-ms", str(seconds * 1000)]) == 2
