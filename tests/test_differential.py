"""Differential against openai-python (issue 12, part 4): every real recording through the SDK's own
chunk accumulator, ``ChatCompletionStreamState``, and through chunkwise, compared field by field.

How the SDK turns a stream into chunks (``openai._streaming.Stream.__stream__`` and
``_base_client._process_response_data``): its ``SSEDecoder`` reads the events; ``[DONE]`` ends the
loop; a payload with a truthy ``error`` raises ``APIError``; every other payload becomes a
``ChatCompletionChunk`` by ``construct_type`` (no validation: the default) or, when the client was
made with ``_strict_response_validation=True``, by ``validate_type`` (pydantic validation, which
raises). ``ChatCompletionStream`` then skips any chunk whose ``object`` is not
``"chat.completion.chunk"`` (its ``_is_valid_chat_completion_chunk_weak``, meant for Azure) and feeds
the rest to ``ChatCompletionStreamState.handle_chunk``; ``get_final_completion()`` gives the result.
``_sdk`` below does exactly that, and ``test_the_emulation_is_what_the_client_does`` checks it
against the real client over a mock transport, for every recording, in both modes.

``DIFFERENCES`` names, per recording, each aspect where the SDK's answer differs from chunkwise's
and the category (the SDK behaviour) that causes it; each category carries a check that the
difference really is that behaviour. The test fails on a difference not in the table, and on an
entry that no longer differs, so the table cannot go stale.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pydantic
import pytest

import _reference as ref
import chunkwise

from helpers import real_recordings

openai = pytest.importorskip("openai", reason="the differential needs openai-python (a dev dependency)")
from openai import APIError, LengthFinishReasonError  # noqa: E402
from openai._models import construct_type  # noqa: E402
from openai._streaming import SSEDecoder  # noqa: E402
from openai.lib.streaming.chat import ChatCompletionStreamState  # noqa: E402
from openai.types.chat import ChatCompletionChunk  # noqa: E402

REAL = real_recordings()
NAMES = sorted(p.relative_to(REAL).as_posix() for p in REAL.rglob("*.sse"))

# Per choice index; `usage` is the completion's; `outcome`, `strict` and `lenient` are how the run ended.
FIELDS = (
    "choices",
    "role",
    "content",
    "refusal",
    "finish_reason",
    "tool_calls",
    "logprobs",
    "reasoning_details",
    "usage",
)
MODES = ("strict", "lenient")

View = dict[str, Any]


# ------------------------------------------------------------------------------------- the SDK side


@dataclass
class SdkRun:
    """How the SDK's stream ended: ``completed``, ``server error`` (``APIError`` for an error
    payload), ``LengthFinishReasonError``, ``rejected`` (strict validation; ``detail`` the errors)
    or ``crashed`` (any other exception; ``detail`` its class); and the completion it holds
    (``get_final_completion()``, or the snapshot when the SDK raised on purpose)."""

    outcome: str
    detail: Any = None
    completion: Any = None


def _errors(exc: pydantic.ValidationError) -> frozenset[str]:
    """Each validation error as ``path: type``, list positions written ``*``."""
    return frozenset(
        ".".join("*" if isinstance(part, int) else str(part) for part in error["loc"]) + ": " + error["type"]
        for error in exc.errors()
    )


def _sdk(body: bytes, *, strict: bool) -> SdkRun:
    """The SDK's ``Stream`` and ``ChatCompletionStream`` loop over ``body`` (see the module docstring)."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    started = False
    with warnings.catch_warnings():
        # The SDK's model_dump of a message whose content is a list warns on every Mistral chunk.
        warnings.simplefilter("ignore")
        for sse in SSEDecoder().iter_bytes(iter([body])):
            if sse.data.startswith("[DONE]"):
                break
            data = sse.json()
            if isinstance(data, dict) and data.get("error"):
                return SdkRun(
                    "server error", completion=state.current_completion_snapshot if started else None
                )
            try:
                chunk = (
                    ChatCompletionChunk.model_validate(data)
                    if strict
                    else cast(ChatCompletionChunk, construct_type(type_=ChatCompletionChunk, value=data))
                )
            except pydantic.ValidationError as exc:
                return SdkRun("rejected", _errors(exc))
            if chunk.object != "chat.completion.chunk":
                continue
            try:
                state.handle_chunk(chunk)
            except Exception as exc:
                return SdkRun("crashed", type(exc).__name__)
            started = True
        try:
            return SdkRun("completed", completion=state.get_final_completion())
        except LengthFinishReasonError as exc:
            return SdkRun("LengthFinishReasonError", completion=exc.completion)
        except Exception as exc:
            return SdkRun("crashed", type(exc).__name__)


def _strip(value: Any) -> Any:
    """``value`` without None entries at any depth: both sides spell "not sent" differently."""
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _call(call: Any) -> tuple[str | None, str | None, str | None]:
    """A call's id, name and arguments (None for a custom call, which has no `function`)."""
    function = getattr(call, "function", None)
    if function is None:
        return call.id, None, None
    return call.id, function.name, function.arguments


def _view(completion: Any) -> View:
    """The compared fields of a completion, chunkwise's or the SDK's (both pydantic models, with
    the same field names; chunkwise's keep unknown fields as extras, as the SDK's do)."""
    view: View = {field: {} for field in FIELDS}
    view["choices"] = [choice.index for choice in completion.choices]
    for choice in completion.choices:
        message, index = choice.message, choice.index
        view["role"][index] = message.role
        view["content"][index] = message.content
        view["refusal"][index] = message.refusal
        view["finish_reason"][index] = choice.finish_reason
        view["tool_calls"][index] = [_call(call) for call in message.tool_calls or []]
        view["logprobs"][index] = _strip(choice.logprobs.model_dump()) if choice.logprobs else None
        view["reasoning_details"][index] = _strip((message.model_extra or {}).get("reasoning_details"))
    view["usage"] = _strip(completion.usage.model_dump()) if completion.usage else None
    return view


# ------------------------------------------------------------------------------- the chunkwise side


@dataclass
class Ours:
    outcome: str
    completion: chunkwise.ChatCompletion
    error: chunkwise.ChunkwiseError | None


@functools.cache
def _ours(name: str) -> Ours:
    failure: chunkwise.ChunkwiseError | None = None
    try:
        completion = chunkwise.assemble(_body(name))
    except chunkwise.ChunkwiseError as error:
        failure = error
    if failure is None:
        return Ours("completed", completion, None)
    assert failure.partial is not None
    outcome = "server error" if isinstance(failure, chunkwise.ServerError) else type(failure).__name__
    return Ours(outcome, failure.partial, failure)


# -------------------------------------------------------------------------------------- the cases


@functools.cache
def _body(name: str) -> bytes:
    return (REAL / name).read_bytes()


@dataclass
class Case:
    """One recording, both sides: ``ours`` and ``theirs`` map each aspect to its value."""

    name: str
    ours: View
    theirs: View
    payloads: list[Any]
    #: The SDK (lenient) given only the first response, when chunkwise refused a late chunk.
    first_response: View | None


def _as_body(payloads: list[Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(payload).encode() + b"\n\n" for payload in payloads)


@functools.cache
def _sdk_on(name: str, *, strict: bool) -> SdkRun:
    return _sdk(_body(name), strict=strict)


@functools.cache
def _case(name: str) -> Case:
    ours_run = _ours(name)
    strict, lenient = _sdk_on(name, strict=True), _sdk_on(name, strict=False)
    ours: View = {"outcome": ours_run.outcome, "strict": None, "lenient": None}
    theirs: View = {
        # A lenient crash is its own aspect; it leaves no outcome or fields to compare.
        "outcome": lenient.outcome if lenient.outcome != "crashed" else ours_run.outcome,
        "strict": strict.detail if strict.outcome == "rejected" else None,
        "lenient": lenient.detail if lenient.outcome == "crashed" else None,
    }
    if lenient.completion is not None:
        ours |= _view(ours_run.completion)
        theirs |= _view(lenient.completion)
    payloads = ref.payloads(_body(name))
    first = None
    if isinstance(ours_run.error, chunkwise.MalformedChunkError):
        # The first response: the payloads up to the first that brings a finish_reason.
        end = next(
            i for i, p in enumerate(payloads) if any(c.get("finish_reason") for c in p.get("choices") or [])
        )
        alone = _sdk(_as_body(payloads[: end + 1]), strict=False)
        first = {"outcome": alone.outcome, **_view(alone.completion)}
    return Case(name, ours, theirs, payloads, first)


def _differences(case: Case) -> set[str]:
    return {aspect for aspect in case.theirs if case.ours.get(aspect) != case.theirs[aspect]}


# ------------------------------------------------------------------------------------ the categories


@dataclass(frozen=True)
class Category:
    """An SDK behaviour that makes its answer differ: the aspects it can touch, and a check that a
    difference in one of them really is this behaviour (``explains(case, aspect)``)."""

    aspects: tuple[str, ...]
    summary: str
    explains: Callable[[Case, str], bool]


def _rejects(*errors: str) -> Callable[[Case, str], bool]:
    """Strict validation failed with exactly these errors."""
    return lambda case, aspect: case.theirs["strict"] == frozenset(errors)


def _crashes(kind: str) -> Callable[[Case, str], bool]:
    """The lenient run raised this exception class."""
    return lambda case, aspect: case.theirs["lenient"] == kind


def _each_differing_choice(test: Callable[[Any, Any, int], bool]) -> Callable[[Case, str], bool]:
    """Both sides have the same choices, and every choice whose value differs passes
    ``test(ours, theirs, index)``."""

    def explains(case: Case, aspect: str) -> bool:
        ours, theirs = case.ours[aspect], case.theirs[aspect]
        differing = [i for i in ours if ours[i] != theirs.get(i)]
        return (
            set(ours) == set(theirs)
            and bool(differing)
            and all(test(ours[i], theirs[i], i) for i in differing)
        )

    return explains


def _repeated(whole: Any, part: Any) -> bool:
    """``whole`` is the string ``part`` two or more times over."""
    if not (isinstance(whole, str) and isinstance(part, str) and part):
        return False
    times = len(whole) // len(part)
    return times >= 2 and whole == part * times


def _strings(entries: Any) -> list[str]:
    return [value for entry in entries or [] for value in entry.values() if isinstance(value, str)]


def _details_merged_by_index(ours: Any, theirs: Any, _: int) -> bool:
    """Some string of an SDK entry is one of ours repeated: pieces sharing an `index` were merged
    and the fields each piece restates (`format`, `id`) concatenated."""
    return any(_repeated(mine, piece) for mine in _strings(theirs) for piece in _strings(ours))


def _second_response(case: Case, aspect: str) -> bool:
    """Given only the first response, the SDK agrees with chunkwise on every field."""
    first = case.first_response
    return (
        first is not None
        and first["outcome"] == "completed"
        and all(first[f] == case.ours[f] for f in FIELDS)
    )


def _finish_in_a_skipped_chunk(case: Case, aspect: str) -> bool:
    """The SDK has no finish where ours came on a chunk whose `object` the SDK skips."""
    skipped = [p for p in case.payloads if p.get("object") != "chat.completion.chunk"]
    sent = {
        entry.get("index", 0): entry.get("finish_reason") for p in skipped for entry in p.get("choices") or []
    }
    return _each_differing_choice(lambda ours, theirs, i: theirs is None and sent.get(i) == ours)(
        case, aspect
    )


def _only_plain_string_content(case: Case, aspect: str) -> bool:
    """The SDK's content is exactly the fragments sent as plain strings, a part of ours."""
    reading = ref.read(case.payloads)

    def dropped(ours: Any, theirs: Any, index: int) -> bool:
        plain = "".join(reading.choices[index].plain_content)
        return isinstance(ours, str) and theirs == plain and len(plain) < len(ours)

    return _each_differing_choice(dropped)(case, aspect)


def _usage_erased(case: Case, aspect: str) -> bool:
    """The SDK has no usage, and the last chunk carried none."""
    return (
        case.theirs["usage"] is None
        and case.ours["usage"] is not None
        and case.payloads[-1].get("usage") is None
    )


def _error_chunk_unread(case: Case, aspect: str) -> bool:
    """The SDK has no usage; ours is the usage the error chunk carried."""
    on_error = [_strip(p.get("usage")) for p in case.payloads if isinstance(p, dict) and p.get("error")]
    return case.theirs["usage"] is None and on_error == [case.ours["usage"]]


REJECTS_OBJECT = Category(
    ("strict",),
    "validation rejects `object` other than 'chat.completion.chunk' (Azure's prompt-filter chunk has '',"
    " Perplexity's last chunk 'chat.completion.done')",
    _rejects("object: literal_error"),
)
REJECTS_SERVICE_TIER = Category(
    ("strict",),
    "validation rejects a `service_tier` outside its Literal (Groq 'on_demand', Snowflake '')",
    _rejects("service_tier: literal_error"),
)
REJECTS_CONTENT_PARTS = Category(
    ("strict",),
    "validation rejects `delta.content` sent as a list of typed parts (Mistral)",
    _rejects("choices.*.delta.content: string_type"),
)
REJECTS_CALL_WITHOUT_INDEX = Category(
    ("strict",),
    "validation rejects a tool call without `index` (Mistral, the Gemini API's whole calls)",
    _rejects("choices.*.delta.tool_calls.*.index: missing"),
)
REJECTS_NO_ID_NO_INDEX = Category(
    ("strict",),
    "validation rejects a chunk without top-level `id` whose tool call has no `index` (the Gemini API)",
    _rejects("id: missing", "choices.*.delta.tool_calls.*.index: missing"),
)
CRASHES_WITHOUT_DELTA = Category(
    ("lenient",),
    "crashes (AttributeError) on a choice without `delta`: `choice.delta.to_dict()` on None (Azure)",
    _crashes("AttributeError"),
)
CRASHES_CALL_WITHOUT_INDEX = Category(
    ("lenient",),
    "crashes (TypeError) on a tool call without `index`: `tool_calls[None]` (Mistral, the Gemini API)",
    _crashes("TypeError"),
)
CRASHES_ON_CONTENT_PARTS = Category(
    ("lenient",),
    "crashes (RuntimeError) in accumulate_delta on content parts without `index` (Mistral)",
    _crashes("RuntimeError"),
)
RAISES_ON_LENGTH = Category(
    ("outcome",),
    "get_final_completion() raises LengthFinishReasonError on any `length` finish, even without a"
    " response_format (chunkwise completes, with finish_reason 'length')",
    lambda case, aspect: (
        (case.ours["outcome"], case.theirs["outcome"]) == ("completed", "LengthFinishReasonError")
        and "length" in case.ours["finish_reason"].values()
    ),
)
NO_FINISH_COMPLETES = Category(
    ("outcome",),
    'a stream that never sends finish_reason completes ("does not provide any guarantees that the'
    ' stream has actually finished"); chunkwise raises IncompleteStreamError (§9.2)',
    lambda case, aspect: (
        (case.ours["outcome"], case.theirs["outcome"]) == ("IncompleteStreamError", "completed")
        and set(case.theirs["finish_reason"].values()) == {None}
    ),
)
SECOND_RESPONSE_MERGED = Category(
    ("outcome", *FIELDS),
    "merges a second response sent after the finish into the first (names, ids, arguments, role"
    " concatenated; usage replaced); chunkwise refuses the late chunk (§11.2). Given only the first"
    " response, the SDK agrees with chunkwise",
    _second_response,
)
ROLE_CONCATENATED = Category(
    ("role",),
    "concatenates `role` repeated on every chunk ('assistantassistant...', §3.7)",
    _each_differing_choice(lambda ours, theirs, _: _repeated(theirs, ours)),
)
DETAILS_MERGED_BY_INDEX = Category(
    ("reasoning_details",),
    "merges `reasoning_details` pieces by `index` alone: a text and an encrypted entry sharing index 0"
    " become one entry with the last `type`, and fields restated per piece (`format`, `id`) are"
    " concatenated (§3.6 merges by (type, index))",
    _each_differing_choice(_details_merged_by_index),
)
USAGE_ERASED = Category(
    ("usage",),
    "sets usage from every chunk, so a later chunk without usage (OpenAI's moderation chunk) erases it (§8.1)",
    _usage_erased,
)
FINISH_IN_SKIPPED_CHUNK = Category(
    ("finish_reason",),
    "skips a chunk whose `object` is not 'chat.completion.chunk' with everything on it: Perplexity's"
    " finish_reason comes on a 'chat.completion.done' chunk",
    _finish_in_a_skipped_chunk,
)
EMPTY_REFUSAL_KEPT = Category(
    ("refusal",),
    'keeps `refusal: ""` sent on every chunk as an empty refusal; chunkwise leaves it null (§10.6)',
    _each_differing_choice(lambda ours, theirs, _: ours is None and theirs == ""),
)
ERROR_CHUNK_UNREAD = Category(
    ("usage",),
    "raises APIError on a chunk with `error` without reading the rest of it: the usage OpenRouter"
    " sends on that chunk is lost (chunkwise merges it, then raises ServerError, §1.6 b)",
    _error_chunk_unread,
)
CONTENT_PARTS_DROPPED = Category(
    ("content",),
    "drops content sent as typed parts, keeping only plain-string fragments (Mistral: the answer '391'"
    " becomes '91')",
    _only_plain_string_content,
)


def _empty_after_finish(case: Case, aspect: str) -> bool:
    """Ours is null, theirs "", and the only content sent came after the finish, empty."""
    after_finish, finished = [], False
    for payload in case.payloads:
        for entry in payload.get("choices") or () if isinstance(payload, dict) else ():
            content = (entry.get("delta") or {}).get("content")
            if content is not None:
                (after_finish if finished else []).append(content)
                if not finished:
                    return False  # content before the finish: not this category
            finished = finished or bool(entry.get("finish_reason"))
    return after_finish == [""] * len(after_finish) != [] and _each_differing_choice(
        lambda ours, theirs, _: ours is None and theirs == ""
    )(case, aspect)


EMPTY_CONTENT_AFTER_FINISH = Category(
    ("content",),
    'turns a null content into "" when a chunk after the finish brings `content: ""` (OpenRouter\'s'
    " trailing usage chunk); chunkwise keeps it null: after the finish nothing more of the answer can"
    " arrive, and no ContentDone could report it (§11.1)",
    _empty_after_finish,
)

_OPENROUTER_ROLE = {"role": ROLE_CONCATENATED}
_OPENROUTER_ONE_CHUNK = {"role": ROLE_CONCATENATED, "content": EMPTY_CONTENT_AFTER_FINISH}
_OPENROUTER_DETAILS = {"role": ROLE_CONCATENATED, "reasoning_details": DETAILS_MERGED_BY_INDEX}

# Every recording where the SDK's answer differs from chunkwise's, aspect by aspect.
DIFFERENCES: dict[str, dict[str, Category]] = {
    "azure/gpt-4o-mini-content-filter.sse": {"strict": REJECTS_OBJECT, "lenient": CRASHES_WITHOUT_DELTA},
    "azure/gpt-5-mini-tool.sse": {"strict": REJECTS_OBJECT},
    "azure/gpt-5-nano-model-router.sse": {"strict": REJECTS_OBJECT},
    "azure/gpt-5.2-protected-material-latency.sse": {"strict": REJECTS_OBJECT},
    "cerebras/zai-glm-4.7-structured-tools.sse": dict.fromkeys(
        ("outcome", "role", "content", "tool_calls", "usage"), SECOND_RESPONSE_MERGED
    ),
    "gemini/openrouter-gemini-2.0-flash-vertex-parallel-one-chunk.sse": _OPENROUTER_ONE_CHUNK,
    "gemini/openrouter-gemini-2.5-flash-aistudio-parallel-one-chunk.sse": _OPENROUTER_ONE_CHUNK,
    "gemini/openrouter-gemini-2.5-flash-tool.sse": _OPENROUTER_ROLE,
    "gemini/openrouter-gemini-3-pro-parallel-tools-2025-11.sse": _OPENROUTER_DETAILS,
    "gemini/openrouter-gemini-3-pro-parallel-tools-thinking.sse": _OPENROUTER_DETAILS,
    "gemini/openrouter-gemini-3-pro-text-thinking-signature.sse": _OPENROUTER_DETAILS,
    "gemini/openrouter-gemini-3-pro-thinking-after-tool-result.sse": _OPENROUTER_ROLE,
    "gemini/openrouter-gemini-3-pro-thinking-signature-tool.sse": _OPENROUTER_DETAILS,
    "gemini/openrouter-gemini-3-pro-thinking-tool-2025-11.sse": _OPENROUTER_DETAILS,
    "gemini/openrouter-gemini-3.1-flash-lite-parallel-tools.sse": _OPENROUTER_ROLE,
    "gemini/openrouter-gemini-3.1-flash-lite-text-signature.sse": _OPENROUTER_ROLE,
    "gemini/vercel-gateway-gemini-3-pro-thinking-after-tool-result.sse": {
        "reasoning_details": DETAILS_MERGED_BY_INDEX
    },
    "gemini/vercel-gateway-gemini-3-pro-thinking-signature-tool.sse": {
        "reasoning_details": DETAILS_MERGED_BY_INDEX
    },
    "gemini-api/ag-ui-rust-gemini-2.5-flash-lite-parallel-tools-one-frame.sse": {
        "strict": REJECTS_CALL_WITHOUT_INDEX,
        "lenient": CRASHES_CALL_WITHOUT_INDEX,
    },
    "gemini-api/ag-ui-rust-gemini-2.5-flash-lite-text.sse": {"role": ROLE_CONCATENATED},
    "gemini-api/ag-ui-rust-gemini-3.1-flash-lite-parallel-tools-signed-stop.sse": {
        "strict": REJECTS_CALL_WITHOUT_INDEX,
        "lenient": CRASHES_CALL_WITHOUT_INDEX,
    },
    "gemini-api/dcode-gemini-2.5-flash-tool-call-finish-usage-single-frame.sse": {
        "strict": REJECTS_NO_ID_NO_INDEX,
        "lenient": CRASHES_CALL_WITHOUT_INDEX,
    },
    "gemini-api/fungraph-gemini-2.0-flash-tool-call-empty-id.sse": {
        "strict": REJECTS_NO_ID_NO_INDEX,
        "lenient": CRASHES_CALL_WITHOUT_INDEX,
    },
    "groq/kimi-k2-parallel-tools-usage-twice.sse": {"strict": REJECTS_SERVICE_TIER},
    "mistral/magistral-medium-thinking-content-array.sse": {
        "strict": REJECTS_CONTENT_PARTS,
        "lenient": CRASHES_ON_CONTENT_PARTS,
    },
    "mistral/mistral-small-thinking-closed-padding.sse": {
        "strict": REJECTS_CONTENT_PARTS,
        "content": CONTENT_PARTS_DROPPED,
    },
    "mistral/mistral-small-tool-call.sse": {
        "strict": REJECTS_CALL_WITHOUT_INDEX,
        "lenient": CRASHES_CALL_WITHOUT_INDEX,
    },
    "moonshot/kimi-k2.5-via-avian-parallel-tools-reasoning.sse": _OPENROUTER_DETAILS,
    "openai/gpt-4o-max-tokens-length.sse": {"outcome": RAISES_ON_LENGTH},
    "openai/gpt-5-moderation-chunk.sse": {"usage": USAGE_ERASED},
    "openai/gpt-5-nano-length-reasoning-only.sse": {"outcome": RAISES_ON_LENGTH},
    "openrouter/claude-sonnet-4.5-reasoning.sse": _OPENROUTER_DETAILS,
    "openrouter/grok-4-fallback-encrypted-reasoning.sse": _OPENROUTER_ROLE,
    "openrouter/grok-4.1-fast-reasoning-summary-parallel-tools.sse": _OPENROUTER_DETAILS,
    "openrouter/minimax-m2-error-in-final-chunk.sse": {
        "role": ROLE_CONCATENATED,
        "usage": ERROR_CHUNK_UNREAD,
    },
    "perplexity/sonar-citations.sse": {
        "strict": REJECTS_OBJECT,
        "role": ROLE_CONCATENATED,
        "finish_reason": FINISH_IN_SKIPPED_CHUNK,
    },
    "snowflake/cortex-claude-sonnet-4.6-reasoning-details.sse": {
        "strict": REJECTS_SERVICE_TIER,
        "outcome": NO_FINISH_COMPLETES,
        "role": ROLE_CONCATENATED,
        "refusal": EMPTY_REFUSAL_KEPT,
        "reasoning_details": DETAILS_MERGED_BY_INDEX,
    },
    "together/deepseek-r1-think-tags-in-content.sse": {"role": ROLE_CONCATENATED},
    "zai/glm-4.7-reasoning-content.sse": {"role": ROLE_CONCATENATED},
}


def test_the_table_names_only_recordings() -> None:
    """DIFFERENCES names recordings of the shared set, and no aspect the comparison does not make."""
    assert len(NAMES) >= 50
    assert set(DIFFERENCES) <= set(NAMES)
    assert all(set(aspects) <= {"outcome", *MODES, *FIELDS} for aspects in DIFFERENCES.values())


@pytest.mark.parametrize("name", NAMES)
def test_every_difference_is_named_and_every_entry_still_differs(name: str) -> None:
    """The aspects where the SDK differs are exactly the table's, each explained by its category."""
    case = _case(name)
    table = DIFFERENCES.get(name, {})
    assert _differences(case) == set(table), {
        a: (case.ours.get(a), case.theirs[a]) for a in _differences(case) ^ set(table)
    }
    for aspect, category in table.items():
        assert aspect in category.aspects and category.explains(case, aspect), f"{aspect}: {category.summary}"


@pytest.mark.parametrize("name", NAMES)
def test_strict_validation_changes_nothing_it_accepts(name: str) -> None:
    """Where strict validation accepts every chunk, the SDK's answer is the lenient one."""
    strict = _sdk_on(name, strict=True)
    if strict.outcome == "rejected":
        return
    lenient = _sdk_on(name, strict=False)
    assert strict.outcome == lenient.outcome
    if strict.completion is not None:
        assert _view(strict.completion) == _view(lenient.completion)


def _client_runs(*, strict: bool) -> dict[str, SdkRun]:
    """The real client on every recording: ``chat.completions.stream()`` over a mock transport
    that answers with the recording, and the final completion (or how it ended)."""
    httpx = pytest.importorskip("httpx2", reason="this openai-python speaks httpx2")
    serving: list[bytes] = []

    def answer(request: Any) -> Any:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=serving[-1])

    client = openai.OpenAI(
        api_key="test",
        base_url="http://test.invalid/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
        max_retries=0,
        _strict_response_validation=strict,
    )
    runs: dict[str, SdkRun] = {}
    with client, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in NAMES:
            serving.append(_body(name))
            runs[name] = _client_run(client)
    return runs


def _client_run(client: Any) -> SdkRun:
    cause: BaseException | None = None
    try:
        with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "x"}]) as stream:
            return SdkRun("completed", completion=stream.get_final_completion())
    except LengthFinishReasonError as exc:
        return SdkRun("LengthFinishReasonError", completion=exc.completion)
    except openai.APIResponseValidationError as exc:
        cause = exc.__cause__
    except APIError:
        return SdkRun("server error")
    except Exception as exc:
        return SdkRun("crashed", type(exc).__name__)
    assert isinstance(cause, pydantic.ValidationError)
    return SdkRun("rejected", _errors(cause))


@pytest.mark.parametrize("strict", [True, False], ids=MODES)
def test_the_emulation_is_what_the_client_does(strict: bool) -> None:
    """``_sdk`` ends every recording as the real client does, with the same answer."""
    for name, real in _client_runs(strict=strict).items():
        mine = _sdk_on(name, strict=strict)
        assert (mine.outcome, mine.detail) == (real.outcome, real.detail), name
        if real.completion is not None:
            assert _view(mine.completion) == _view(real.completion), name


def test_counts() -> None:
    """The totals the issue quotes, from the table the test above ties to the SDK's behaviour: 58
    recordings then (10 rejected, 3 crashes, reasoning_details corrupted in 11); the 5 Gemini API
    streams added since bring 4 rejections and 4 crashes more."""
    counts = {
        "rejected under validation": sum("strict" in aspects for aspects in DIFFERENCES.values()),
        "crashes even leniently": sum("lenient" in aspects for aspects in DIFFERENCES.values()),
        **{
            f"differs in {aspect}": sum(aspect in aspects for aspects in DIFFERENCES.values())
            for aspect in ("outcome", *FIELDS)
        },
    }
    assert len(NAMES) >= 63
    assert counts == {
        "rejected under validation": 14,
        "crashes even leniently": 7,
        "differs in outcome": 4,
        "differs in choices": 0,
        "differs in role": 22,
        "differs in content": 4,
        "differs in refusal": 1,
        "differs in finish_reason": 1,
        "differs in tool_calls": 1,
        "differs in logprobs": 0,
        "differs in reasoning_details": 11,
        "differs in usage": 3,
    }
