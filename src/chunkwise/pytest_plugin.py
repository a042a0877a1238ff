"""chunkwise's pytest plugin: replay recordings in your own test suite.

pytest loads it by itself wherever chunkwise is installed (the ``pytest11`` entry point, named
``chunkwise``; ``-p no:chunkwise`` turns it off). Since that happens in every pytest session, this
module imports nothing beyond pytest and the standard library (the ``chunkwise`` package imports its
own names on first use, so not even the core and pydantic load): the replay machinery is imported by
the fixture that needs it, and ``chunkwise_transport`` alone needs httpx
(``pip install "chunkwise[http]"``).

Fixtures, all function-scoped factories whose products end with the test:

    chunkwise_transport(recording, *, pieces="random", seed=0, status=200, headers=None, fault=None)
        -> chunkwise.replay.ReplayTransport, for ``httpx.Client(transport=...)`` or an OpenAI SDK.
        ``recording`` is the bytes or a path; the options are the transport's own.

    chunkwise_server(recording, *, pieces="random", seed=0, delay=0.0, fault=None)
        -> the base URL (``http://127.0.0.1:PORT/v1``) of ``chunkwise serve`` running in a thread
        of this process. ``recording`` is a file or a folder of them, chosen per request as
        ``chunkwise serve`` chooses (the ``model``, or the ``x-chunkwise-fixture`` header). The
        server stops after the test, passed or failed: the port then refuses connections, and a
        reply still being sent (a ``Stall``, a ``delay``) has its connection closed.

One test per recording:

    @pytest.mark.chunkwise_recordings("recordings")      # relative to this test file's folder
    def test_each(chunkwise_recording: Path) -> None: ...

runs the test once per ``.sse``/``.jsonl`` file under each folder given (a file counts as itself),
sorted, with the path relative to that folder as the test id (``[vertex/parallel-tool-calls.sse]``).
``chunkwise.pytest_plugin.recordings(folder)`` gives the same list as ``pytest.param``s, for
``@pytest.mark.parametrize``; its relative paths resolve against the working directory, like
``open()``, so write ``Path(__file__).parent / "recordings"``.

Relative paths given to the two factories resolve against the working directory too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    # ParameterSet is what pytest.param returns; pytest names it only in its private package.
    from _pytest.mark.structures import ParameterSet

    from ._serve import Fault, Options, Pieces, Recordings
    from .replay import ReplayTransport

__all__ = ["ServerFactory", "TransportFactory", "recordings"]

_MARKER = "chunkwise_recordings"


class TransportFactory(Protocol):
    """The type of the ``chunkwise_transport`` fixture, for annotating a test's argument."""

    def __call__(
        self,
        recording: bytes | str | os.PathLike[str],
        /,
        *,
        pieces: Pieces = "random",
        seed: int = 0,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        fault: Fault | None = None,
    ) -> ReplayTransport: ...


class ServerFactory(Protocol):
    """The type of the ``chunkwise_server`` fixture: a recording or folder in, a base URL out."""

    def __call__(
        self,
        recording: str | os.PathLike[str],
        /,
        *,
        pieces: Pieces = "random",
        seed: int = 0,
        delay: float = 0.0,
        fault: Fault | None = None,
    ) -> str: ...


# ---------------------------------------------------------------- hooks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(*paths): run the test once per .sse/.jsonl recording under each path (a folder, "
        "or a file), given as the chunkwise_recording fixture; relative paths resolve against the "
        "test file's folder",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The markers nearest the test count (its own, else its class's, else its module's), all of them:
    # stacked on one test they add folders; a test's own replace its module's.
    found = list(metafunc.definition.iter_markers_with_node(_MARKER))
    markers = [marker for node, marker in found if node is found[0][0]] if found else []
    if not markers or "chunkwise_recording" not in metafunc.fixturenames:
        return  # a module-wide marker also covers tests that take no recording
    if any(marker.kwargs or not marker.args for marker in markers):
        pytest.fail(f"@pytest.mark.{_MARKER} takes one or more paths and no keywords", pytrace=False)
    here = metafunc.definition.path.parent
    try:
        params = recordings(*(here / Path(path) for marker in markers for path in marker.args))
    except (TypeError, ValueError) as exc:
        why = str(exc)  # pytest.fail outside the except: its report then shows one error, not a chain
    else:
        metafunc.parametrize("chunkwise_recording", params)
        return
    pytest.fail(f"@pytest.mark.{_MARKER} on {metafunc.definition.nodeid}: {why}", pytrace=False)


def recordings(*paths: str | os.PathLike[str]) -> list[ParameterSet]:
    """A ``pytest.param`` per recording under ``paths``, for ``@pytest.mark.parametrize``.

    A folder gives every ``.sse``/``.jsonl`` file below it, sorted, each with its path relative to
    the folder as its id; a file gives itself, its name as its id. Raises ValueError for a path that
    does not exist or a folder without recordings.
    """
    from ._payloads import SUFFIXES  # here, not above: a module every pytest session loads imports little

    if not paths:
        raise TypeError("recordings() needs at least one folder or file")
    found: list[tuple[Path, str, str]] = []  # (file, id within its folder, id with the folder's name)
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            if not files:
                raise ValueError(f"{path}: no .sse or .jsonl recordings in this folder")
            found += [
                (p, p.relative_to(path).as_posix(), f"{path.name}/{p.relative_to(path).as_posix()}")
                for p in files
            ]
        elif path.is_file():
            found.append((path, path.name, path.as_posix()))
        else:
            raise ValueError(f"{path}: no such file or folder")
    # Ids are short where they are unique; two folders holding the same name keep their folders'.
    short = [name for _, name, _ in found]
    return [pytest.param(p, id=name if short.count(name) == 1 else longer) for p, name, longer in found]


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def chunkwise_recording() -> Path:
    """One recording of ``@pytest.mark.chunkwise_recordings(...)``; see the module docstring."""
    pytest.fail(
        f"chunkwise_recording is given by @pytest.mark.{_MARKER}(folder) on the test, and this test has none",
        pytrace=False,
    )


@pytest.fixture
def chunkwise_transport() -> TransportFactory:
    """A factory of ``chunkwise.replay.ReplayTransport``s; see the module docstring."""
    try:
        from .replay import ReplayTransport
    except ModuleNotFoundError as exc:
        missing = exc.name  # pytest.fail outside the except: its report then shows one error, not a chain
    else:
        # The factory is the class itself: its options, defaults and errors are the transport's.
        return ReplayTransport
    pytest.fail(
        f'chunkwise_transport needs {missing}, which is not installed: pip install "chunkwise[http]"',
        pytrace=False,
    )


@pytest.fixture
def chunkwise_server() -> Iterator[ServerFactory]:
    """A factory of loopback ``chunkwise serve`` servers, stopped after the test; see the module docstring."""
    running: list[_Running] = []

    def start(
        recording: str | os.PathLike[str],
        *,
        pieces: Pieces = "random",
        seed: int = 0,
        delay: float = 0.0,
        fault: Fault | None = None,
    ) -> str:
        from . import _serve  # http.server is loaded only by the tests that serve

        if not isinstance(recording, (str, os.PathLike)):
            raise TypeError(f"recording must be the path of a file or folder, not {type(recording).__name__}")
        _check_options(pieces, seed, delay, fault)
        options = _serve.Options(pieces=pieces, seed=seed, delay=delay, fault=fault)
        server = _Running(_serve.Recordings(Path(recording)), options)
        running.append(server)
        return server.url

    try:
        yield start
    finally:
        for server in running:
            server.stop()


def _check_options(pieces: object, seed: object, delay: object, fault: object) -> None:
    """The checks ``ReplayTransport`` makes (``replay._check_options``, which needs httpx to import),
    plus ``delay``: a wrong option is a TypeError/ValueError at the call, not a reset connection."""
    from ._serve import MAX_PAUSE, PIECE_MODES, Drop, Stall, Status

    if isinstance(pieces, str):
        if pieces not in PIECE_MODES:
            raise ValueError(f"pieces must be one of {', '.join(PIECE_MODES)} or a size, not {pieces!r}")
    elif type(pieces) is not int:
        raise TypeError(f"pieces must be one of {', '.join(PIECE_MODES)} or an int size, not {pieces!r}")
    elif pieces < 1:
        raise ValueError(f"pieces: a size must be >= 1, not {pieces}")
    if type(seed) is not int:
        raise TypeError(f"seed must be an int, not {seed!r}")
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_PAUSE:
        raise ValueError(f"delay must be a number of seconds from 0 to {MAX_PAUSE:g}, not {delay!r}")
    if fault is not None and not isinstance(fault, (Drop, Stall, Status)):
        raise TypeError(f"fault must be Drop, Stall, Status or None, not {fault!r}")


class _Running:
    """``chunkwise serve``'s server on 127.0.0.1 and a free port, serving from a thread until ``stop``.

    ``_serve.serve`` runs in the main thread until a signal, so this starts the same server class
    the way ``socketserver`` allows: ``serve_forever`` in a thread, ``shutdown`` from another.
    """

    def __init__(self, recordings: Recordings, options: Options) -> None:
        self._server = _server_class()(("127.0.0.1", 0), recordings, options, None)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long shutdown() may wait for the accept loop
            name=f"chunkwise_server {self.url}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the listening socket, and cut the connections still being answered;
        a reply pausing (a Stall, a delay) wakes and ends, so no handler thread outlives the test."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.cut_connections()
        self._thread.join(timeout=5)


@functools.cache
def _server_class() -> Any:
    """``_serve._Server`` plus the list of its open connections, so that ``stop`` can cut them.

    Its handler threads are daemons, which ``server_close`` does not wait for: a reply sleeping
    through a ``Stall`` would otherwise go on after the test, on a socket the test has left.
    Built on first use, since ``_serve`` is imported only by the tests that serve.
    """
    from ._serve import _Server

    class _TestServer(_Server):
        def __init__(self, *args: Any) -> None:
            self.open: set[socket.socket] = set()
            self.open_lock = threading.Lock()
            super().__init__(*args)

        def process_request(self, request: Any, client_address: Any) -> None:
            with self.open_lock:
                self.open.add(request)
            super().process_request(request, client_address)

        def shutdown_request(self, request: Any) -> None:
            with self.open_lock:
                self.open.discard(request)
            super().shutdown_request(request)

        def cut_connections(self) -> None:
            with self.open_lock:
                open_now, self.open = self.open, set()
            for request in open_now:
                with contextlib.suppress(OSError):  # the client may have closed it already
                    request.shutdown(socket.SHUT_RDWR)

    return _TestServer
