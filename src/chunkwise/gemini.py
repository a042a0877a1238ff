"""Gemini's request side, as the Vertex AI "Call Gemini with the Chat Completions API" page shows it.

The assembler reads what Gemini sends; this module writes what Gemini is sent, from one place:

* ``request_fields(...)``: the body fields for thinking, the thought tag and streamed call
  arguments, and ``thought_tag_of(body)``, which reads the tag back for the assembler;
* ``vertex_url(...)`` / ``vertex_base_url(...)`` and ``gemini_api_url()`` /
  ``gemini_api_headers(key)``: the endpoints (a bearer token for Vertex comes from
  ``chunkwise.http.GoogleAuth``, the one part that needs httpx);
* ``tool_results(message, results)``, ``tool_message``, ``file_data``, ``extra_content`` and
  ``thought_signature_of``: the messages of the next turn after a tool call.

Pure functions over plain dicts: no httpx, no I/O, so ``import chunkwise.gemini`` needs only the
core. Every value is checked where it enters (``TypeError`` for the wrong type, ``ValueError`` for
a wrong value), so a bad option fails here, naming the option, not as a 400 from the server.

Where the fields go (quoted from the page; REST is what goes over the wire)::

    {"model": "google/...", "messages": [...],
     "extra_body": {"google": {"thinking_config": {"include_thoughts": true,
                                                   "thinking_budget": 10000},
                               "thought_tag_marker": "think",
                               "stream_function_call_arguments": true}},
     "stream": true}

``extra_body`` is a real key of the JSON body here, not only the openai SDK's keyword: the SDK
merges its ``extra_body=`` keyword into the top level of the body, which is why the page writes
``create(..., extra_body={'extra_body': {'google': {...}}})``. ``request_fields`` returns the
body fields, so the same dict serves both: ``{**body, **fields}`` for REST and
``create(..., extra_body=fields)`` for the SDK.

``reasoning_effort`` is OpenAI's own top-level field, which the Gemini API's "OpenAI compatibility"
page maps onto thinking (``"none"`` turns thinking off on the models that allow it, then
``"minimal"``, ``"low"``, ``"medium"``, ``"high"``); that page also says it overlaps
``thinking_budget``, so the two are never sent together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._models import ChatCompletion, Message, _thought_signature
from ._thinking import is_tag_name

__all__ = [
    "GEMINI_API_BASE_URL",
    "REASONING_EFFORTS",
    "VERTEX_VERSIONS",
    "extra_content",
    "file_data",
    "gemini_api_headers",
    "gemini_api_url",
    "request_fields",
    "thought_signature_of",
    "thought_tag_of",
    "tool_message",
    "tool_results",
    "vertex_base_url",
    "vertex_url",
]

#: ``reasoning_effort`` values the Gemini API's OpenAI compatibility accepts.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")
#: The API versions whose ``endpoints/openapi/chat/completions`` the Vertex page shows.
VERTEX_VERSIONS = ("v1", "v1beta1")
#: The Gemini API's OpenAI-compatible base URL (the openai SDK's ``base_url``).
GEMINI_API_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"

# A path segment we put into a URL: a project id ("my-project", or the older "example.com:proj"),
# a location ("us-central1", "global") or an endpoint id ("openapi", "1234567890"). Nothing that
# would change the URL's shape: no "/", "?", "#", "%", spaces, and not "." or "..".
_SEGMENT = re.compile(r"[A-Za-z0-9._:-]+")
# A location is also part of the host name ("us-central1-aiplatform..."): lowercase words joined by
# "-" ("us-central1", "europe-west4", "global"); an endpoint is "openapi" or a deployed endpoint's id.
_LOCATION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ENDPOINT = re.compile(r"[A-Za-z0-9_-]+")
_SHAPES = {
    _LOCATION: "a location such as 'global' or 'us-central1' (lowercase letters, digits, '-')",
    _ENDPOINT: "'openapi' or an endpoint id (letters, digits, '-', '_')",
}


# ---------------------------------------------------------------- request options


def request_fields(
    *,
    thought_tag: str | None = None,
    include_thoughts: bool | None = None,
    thinking_budget: int | None = None,
    reasoning_effort: str | None = None,
    stream_function_call_arguments: bool | None = None,
) -> dict[str, Any]:
    """The request body fields for these Gemini options; only the options given appear.

    ``thought_tag``: ``extra_body.google.thought_tag_marker``; thinking then arrives inside
    ``content`` as ``<tag>...</tag>`` (assemble with the same ``thought_tag``, which
    ``thought_tag_of`` reads back from the body). ``include_thoughts`` and ``thinking_budget``:
    ``extra_body.google.thinking_config`` (a budget in tokens; 0 turns thinking off where the
    model allows it, -1 lets the model decide). ``stream_function_call_arguments``:
    ``extra_body.google.stream_function_call_arguments`` (call arguments in fragments, as the
    page's example stream). ``reasoning_effort``: the top-level ``reasoning_effort``, one of
    ``REASONING_EFFORTS``; not with ``thinking_budget``.

    Merge the result into a REST body (``{**body, **fields}``), or pass it whole to the openai
    SDK as ``extra_body=fields``. Raises TypeError / ValueError naming the option.
    """
    google: dict[str, Any] = {}
    thinking: dict[str, Any] = {}
    if include_thoughts is not None:
        thinking["include_thoughts"] = _bool("include_thoughts", include_thoughts)
    if thinking_budget is not None:
        if type(thinking_budget) is not int:  # bool is an int: refuse True as a budget
            raise TypeError(f"thinking_budget must be an int, not {type(thinking_budget).__name__}")
        if thinking_budget < -1:
            raise ValueError(
                f"thinking_budget must be a number of tokens >= 0, or -1 for dynamic thinking, "
                f"not {thinking_budget}"
            )
        thinking["thinking_budget"] = thinking_budget
    if thinking:
        google["thinking_config"] = thinking
    if thought_tag is not None:
        google["thought_tag_marker"] = _tag(thought_tag, "thought_tag")
    if stream_function_call_arguments is not None:
        google["stream_function_call_arguments"] = _bool(
            "stream_function_call_arguments", stream_function_call_arguments
        )
    fields: dict[str, Any] = {}
    if reasoning_effort is not None:
        if not isinstance(reasoning_effort, str):
            raise TypeError(f"reasoning_effort must be a str, not {type(reasoning_effort).__name__}")
        if reasoning_effort not in REASONING_EFFORTS:
            raise ValueError(
                f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, not {reasoning_effort!r}"
            )
        if thinking_budget is not None:
            # The Gemini API's OpenAI compatibility page: the two overlap and cannot be used together.
            raise ValueError("reasoning_effort and thinking_budget cannot be used together: give one")
        fields["reasoning_effort"] = reasoning_effort
    if google:
        fields["extra_body"] = {"google": google}
    return fields


def thought_tag_of(body: Any) -> str | None:
    """The thought tag a request asks for (``extra_body.google.thought_tag_marker``), or None.

    A body that is not a mapping, or has no marker, gives None (nothing to split). A marker
    that is not a tag name raises ValueError, as ``StreamAssembler(thought_tag=...)`` would.
    """
    marker = _dig(body, "extra_body", "google", "thought_tag_marker")
    if marker is None:
        return None
    if not isinstance(marker, str):  # a value of the body, not an argument: a ValueError, as the assembler's
        raise ValueError(f"extra_body.google.thought_tag_marker must be a tag name, not {marker!r}")
    return _tag(marker, "extra_body.google.thought_tag_marker")


# ---------------------------------------------------------------- endpoints


def vertex_base_url(
    project: str, location: str = "global", *, version: str = "v1", endpoint: str = "openapi"
) -> str:
    """The Vertex AI base URL for the openai SDK (``base_url=``; the SDK adds ``/chat/completions``).

    ``https://{location}-aiplatform.googleapis.com/{version}/projects/{project}/locations/{location}
    /endpoints/{endpoint}`` for a region, ``https://aiplatform.googleapis.com/...`` for ``global``.
    ``endpoint`` is ``openapi`` for Google's models, or a self-deployed model's endpoint id.
    ``version``: ``v1`` or ``v1beta1``.
    """
    project = _segment("project", project)
    location = _segment("location", location, _LOCATION)
    endpoint = _segment("endpoint", endpoint, _ENDPOINT)
    if not isinstance(version, str):
        raise TypeError(f"version must be a str, not {type(version).__name__}")
    if version not in VERTEX_VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERTEX_VERSIONS)}, not {version!r}")
    host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    return f"https://{host}/{version}/projects/{project}/locations/{location}/endpoints/{endpoint}"


def vertex_url(
    project: str, location: str = "global", *, version: str = "v1", endpoint: str = "openapi"
) -> str:
    """The Vertex AI chat completions URL to POST to (``vertex_base_url(...)/chat/completions``)."""
    return vertex_base_url(project, location, version=version, endpoint=endpoint) + "/chat/completions"


def gemini_api_url() -> str:
    """The Gemini API's OpenAI-compatible chat completions URL."""
    return GEMINI_API_BASE_URL + "chat/completions"


def gemini_api_headers(api_key: str) -> dict[str, str]:
    """The header that carries a Gemini API key (``Authorization: Bearer KEY``, as its page shows).

    The key never appears in an error message.
    """
    if not isinstance(api_key, str):
        raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
    if not api_key or not api_key.isascii() or not api_key.isprintable() or any(c.isspace() for c in api_key):
        raise ValueError("api_key must be a non-empty key without spaces or control characters")
    return {"Authorization": f"Bearer {api_key}"}


# ---------------------------------------------------------------- the next turn


def extra_content(**google: Any) -> dict[str, Any]:
    """``{"extra_content": {"google": {...}}}``, to spread into a message, a content part or a
    tool call (``{"role": "user", "content": "...", **extra_content(...)}``)."""
    return {"extra_content": {"google": dict(google)}}


def thought_signature_of(item: Any) -> str | None:
    """The thought signature of a message, tool call or content part, or None.

    ``item`` is a dict (as sent or received) or a chunkwise ``Message`` / ``ToolCall``; the
    signature is read from ``extra_content.google.thought_signature`` (or ``.vertex``).
    """
    extra = item.get("extra_content") if isinstance(item, Mapping) else getattr(item, "extra_content", None)
    return _thought_signature(extra) if isinstance(extra, dict) else None


def file_data(file_uri: str, mime_type: str, *, display_name: str | None = None) -> dict[str, Any]:
    """A ``file_data`` part for a tool message's ``extra_content.google.parts``: a file the
    function returns (``gs://...`` or an https URL), as the page's multimodal function response."""
    data = {"mime_type": _text("mime_type", mime_type)}
    if display_name is not None:
        data["display_name"] = _text("display_name", display_name)
    data["file_uri"] = _text("file_uri", file_uri)
    return {"file_data": data}


def tool_message(
    tool_call_id: str, content: Any, *, parts: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """One ``role: "tool"`` message answering the call ``tool_call_id``.

    ``content``: a str is sent as it is; any other value as its JSON text (the page sends
    ``"{\\"image_ref\\": ...}"``). ``parts`` (e.g. ``[file_data(...)]``) go to
    ``extra_content.google.parts``: the files the function returns to the model.
    """
    message: dict[str, Any] = {
        "role": "tool",
        "tool_call_id": _text("tool_call_id", tool_call_id),
        "content": _content(tool_call_id, content),
    }
    if parts is not None:
        if isinstance(parts, (str, bytes, Mapping)) or not isinstance(parts, Sequence):
            raise TypeError(f"parts must be a list of parts, not {type(parts).__name__}")
        for part in parts:
            if not isinstance(part, Mapping):
                raise TypeError(f"each part must be a dict such as file_data(...), not {type(part).__name__}")
        message["extra_content"] = {"google": {"parts": [dict(part) for part in parts]}}
    return message


def tool_results(
    message: Message | ChatCompletion | Mapping[str, Any],
    results: Mapping[str, Any],
    *,
    parts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """The tool messages answering every call of ``message``, in the order of its calls.

    Gemini wants every call of a turn answered, in order, right after the assistant message
    (which ``message.to_request_message()`` gives, each call with its own signature). ``message``
    is the assembled ``Message`` (a ``ChatCompletion`` means its first choice's), or the assistant
    message dict as sent; ``results`` maps each call's id to its result (``tool_message``'s
    ``content``); ``parts`` maps a call's id to the files its result carries.

    Raises ValueError when a call has no result, a result or part names no call, or a call has
    no id or shares its id with another (then no result can be matched to it).
    """
    ids = _call_ids(message)
    if not isinstance(results, Mapping):
        raise TypeError(f"results must map each call id to its result, not {type(results).__name__}")
    given_parts: Mapping[str, Any] = {} if parts is None else parts
    if not isinstance(given_parts, Mapping):
        raise TypeError(f"parts must map a call id to its parts, not {type(given_parts).__name__}")
    missing = [i for i in ids if i not in results]
    extra = [str(key) for key in results if key not in ids]
    stray = [str(key) for key in given_parts if key not in ids]
    if missing or extra or stray:
        problems = []
        if missing:
            problems.append(f"no result for call(s) {', '.join(missing)}")
        if extra:
            problems.append(f"result(s) for no call: {', '.join(extra)}")
        if stray:
            problems.append(f"parts for no call: {', '.join(stray)}")
        raise ValueError("; ".join(problems) + f" (the calls, in order: {', '.join(ids) or 'none'})")
    return [tool_message(i, results[i], parts=given_parts.get(i)) for i in ids]


# ---------------------------------------------------------------- checks


def _call_ids(message: Message | ChatCompletion | Mapping[str, Any]) -> list[str]:
    if isinstance(message, ChatCompletion):
        if not message.choices:
            raise ValueError("the completion has no choice: there are no calls to answer")
        message = message.message  # the first choice's; pass another choice's message yourself
    if isinstance(message, Message):
        raw: list[Any] = [call.id for call in message.tool_calls or []]
    elif isinstance(message, Mapping):
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise TypeError("message['tool_calls'] must be a list")
        raw = [call.get("id") if isinstance(call, Mapping) else None for call in calls]
    else:
        raise TypeError(
            f"message must be a Message, a ChatCompletion or a dict, not {type(message).__name__}"
        )
    ids: list[str] = []
    for position, call_id in enumerate(raw):
        if not isinstance(call_id, str) or not call_id:
            raise ValueError(f"call {position} has no id: its result cannot be matched; use tool_message()")
        if call_id in ids:
            raise ValueError(f"calls share the id {call_id!r}: their results cannot be told apart")
        ids.append(call_id)
    return ids


def _content(tool_call_id: str, content: Any) -> str:
    if isinstance(content, str):
        return content
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the result for {tool_call_id!r} is neither a str nor JSON data: {exc}") from None


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def _tag(value: Any, name: str) -> str:
    # The assembler's own rule for a tag name (StreamAssembler(thought_tag=...)), so a tag this
    # module writes or reads is always one the assembler takes.
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not is_tag_name(value):
        raise ValueError(
            f"{name} must be a tag name such as 'think' (no space, '<', '/' or '>'), not {value!r}"
        )
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _segment(name: str, value: Any, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if pattern is not None:
        if not pattern.fullmatch(value):
            raise ValueError(f"{name} must be {_SHAPES[pattern]}, not {value!r}")
    elif not _SEGMENT.fullmatch(value) or value in (".", ".."):
        raise ValueError(
            f"{name} must be one URL path segment (letters, digits, '-', '_', '.', ':'), not {value!r}"
        )
    return value


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
