"""A Google bearer token on every request of an httpx client (Vertex AI), renewed when it expires.

::

    client = httpx.Client(auth=GoogleAuth())               # `gcloud auth print-access-token`
    client = httpx.Client(auth=GoogleAuth(env="VERTEX_TOKEN"))

This module imports httpx (``chunkwise.http`` re-exports it); ``chunkwise.gemini`` builds the URL.

Where the token comes from: the environment variable ``env`` when it is named and set, else the
output of ``command`` (default ``gcloud auth print-access-token``, the command every request on the
Vertex page uses). The command runs without a shell, with a timeout; it must print the token alone
on one line. The token is kept and sent as ``Authorization: Bearer <token>`` until the server
answers 401; then a new one is fetched and the request is sent once more. A second 401, or a 401
when no newer token can be had (the variable still holds the same one), is returned as it came.

Why every 401 counts as "expired": Google answers an expired access token (they last an hour)
with 401 ``UNAUTHENTICATED``, and the body that says so cannot be read here: an auth flow that
reads bodies would read every streamed answer whole before the caller sees a byte of it.

The token never appears in a message, a repr or a log line of ours: errors name the variable or
the command and what went wrong (the command's exit code and the end of its stderr).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from collections.abc import AsyncGenerator, Generator, Sequence

import anyio.to_thread
import httpx

from ._errors import GoogleAuthError

__all__ = ["DEFAULT_TOKEN_COMMAND", "GoogleAuth", "GoogleAuthError"]

#: The command the Vertex AI page runs for a token.
DEFAULT_TOKEN_COMMAND = ("gcloud", "auth", "print-access-token")
#: How much of a failing command's stderr an error quotes.
_STDERR_TAIL = 500


class GoogleAuth(httpx.Auth):
    """httpx authentication with a Google access token (sync and async clients alike).

    ``env``: the name of an environment variable holding the token. ``command``: a command that
    prints one (a list of arguments, or a string split as a shell would, run without a shell);
    ``gcloud auth print-access-token`` when neither is given. With both, the variable is read
    first and the command runs when it is unset, or holds the token the server just refused.
    ``timeout``: seconds the command may take. Raises ``GoogleAuthError`` from the request when no
    token can be had.
    """

    # The retry after a 401 sends the same body again: httpx must have it in memory.
    requires_request_body = True

    def __init__(
        self,
        *,
        env: str | None = None,
        command: str | Sequence[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        if env is not None and (not isinstance(env, str) or not env or "=" in env or "\0" in env):
            raise ValueError(f"env must name an environment variable, not {env!r}")
        if isinstance(command, str):
            argv = tuple(shlex.split(command))
        elif command is None:
            argv = DEFAULT_TOKEN_COMMAND if env is None else ()
        elif isinstance(command, Sequence) and all(isinstance(a, str) for a in command):
            argv = tuple(command)
        else:
            raise TypeError(f"command must be a str or a list of str, not {command!r}")
        if command is not None and not argv:
            raise ValueError("command must not be empty")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        self._env = env
        self._argv = argv
        self._timeout = float(timeout)
        self._token: str | None = None
        # One fetch at a time, whatever the threads (sync clients) or tasks (async clients, whose
        # fetches run in worker threads) that need a token at once.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        command = shlex.join(self._argv) if self._argv else None
        state = "cached" if self._token is not None else "none yet"
        return f"GoogleAuth(env={self._env!r}, command={command!r}, token=<{state}>)"

    # ------------------------------------------------------------ the flows (twins)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token or self._first_token()
        _set(request, token)
        response = yield request
        if response.status_code == 401:
            fresh = self._renewed(token)
            if fresh is not None:
                _set(request, fresh)
                yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # The command blocks: it runs in a worker thread, never on the event loop.
        token = self._token
        if token is None:
            token = await anyio.to_thread.run_sync(self._first_token)
        _set(request, token)
        response = yield request
        if response.status_code == 401:
            refused = token
            fresh = await anyio.to_thread.run_sync(lambda: self._renewed(refused))
            if fresh is not None:
                _set(request, fresh)
                yield request

    # ------------------------------------------------------------ the token (no I/O but the fetch)

    def _first_token(self) -> str:
        with self._lock:
            if self._token is None:
                token = self._fetch(None)
                if token is None:  # cannot happen with stale=None; keeps the type exact
                    raise GoogleAuthError("no token could be had")
                self._token = token
            return self._token

    def _renewed(self, refused: str) -> str | None:
        """A token other than ``refused``, or None when none can be had."""
        with self._lock:
            if self._token is not None and self._token != refused:
                return self._token  # another request renewed it meanwhile
            token = self._fetch(refused)
            if token is not None:
                self._token = token
            return token

    def _fetch(self, refused: str | None) -> str | None:
        if self._env is not None:
            value = os.environ.get(self._env, "").strip()
            if value and value != refused:
                return _checked(value, f"the environment variable {self._env}")
            if not self._argv:
                if not value:
                    raise GoogleAuthError(f"the environment variable {self._env} is not set or empty")
                return None  # it still holds the refused token: nothing newer to try
        value = self._run(refused)
        return value if value != refused else None

    def _run(self, refused: str | None) -> str:
        command = shlex.join(self._argv)
        try:
            done = subprocess.run(
                self._argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self._timeout,
                check=False,
            )
        except FileNotFoundError:
            hint = (
                " (install the Google Cloud CLI, or give GoogleAuth(env=...))"
                if self._argv[0] == "gcloud"
                else ""
            )
            raise GoogleAuthError(f"cannot run {command!r}: {self._argv[0]!r} was not found{hint}") from None
        except subprocess.TimeoutExpired:
            raise GoogleAuthError(f"{command!r} did not finish within {self._timeout:g} s") from None
        except OSError as exc:
            raise GoogleAuthError(f"cannot run {command!r}: {exc.strerror or type(exc).__name__}") from None
        if done.returncode != 0:
            # stderr says why (gcloud: "Reauthentication required", no account, ...); stdout may
            # hold a token and is never quoted.
            stderr = done.stderr.decode("utf-8", "replace").strip()
            if refused:
                stderr = stderr.replace(refused, "[redacted]")
            tail = stderr[-_STDERR_TAIL:]
            raise GoogleAuthError(f"{command!r} exited {done.returncode}" + (f": {tail}" if tail else ""))
        return _checked(done.stdout.decode("utf-8", "replace").strip(), repr(command))


def _checked(token: str, source: str) -> str:
    """The token, if it can go into a header as it is; the error never quotes it."""
    if not token or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise GoogleAuthError(f"{source} must give one token on one line, without spaces")
    return token


def _set(request: httpx.Request, token: str) -> None:
    request.headers["Authorization"] = f"Bearer {token}"
