"""The result models, built from the merged state: the one place that writes pydantic internals.

The assembler keeps plain lists and dicts while the stream runs and calls ``build_completion``
once at the end (or for each ``snapshot``). Every value it passes was checked where it entered
(types, nesting, Unicode), so the models are built without validation, by ``construct``: a
pydantic upgrade that changes model internals breaks here and nowhere else, and
``tests/test_build.py`` pins ``construct`` against ``model_validate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from ._choice import ChoiceState
from ._fields import Detail
from ._merge import copy_json
from ._models import (
    Audio,
    ChatCompletion,
    Choice,
    ChoiceLogprobs,
    CustomCall,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)

__all__ = ["build_completion", "construct"]

_M = TypeVar("_M", bound=BaseModel)
_new = object.__new__  # BaseModel defines no __new__ of its own
# BaseModel's own slots, written through their descriptors: `object.__setattr__` looks each up
# again on every call (measured: construct 0.73 -> 0.5 us a model; a result has 8 or more).
_slot = BaseModel.__dict__
_set_dict = _slot["__dict__"].__set__
_set_fields_set = _slot["__pydantic_fields_set__"].__set__
_set_extra = _slot["__pydantic_extra__"].__set__
_set_private = _slot["__pydantic_private__"].__set__
_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def construct(cls: type[_M], fields: dict[str, Any], extra: dict[str, Any] | None = None) -> _M:
    """``cls.model_construct`` for values already checked, at a fraction of its cost.

    ``fields`` must name every declared field (the callers here always pass them all), so there
    are no defaults, aliases or validators to consult: this is the tail of pydantic's own
    ``model_construct``. A server field that happens to share a declared field's name stays a field.
    """
    if not extra:
        extra = {}
    elif not cls.__pydantic_fields__.keys().isdisjoint(extra):
        extra = {k: v for k, v in extra.items() if k not in cls.__pydantic_fields__}
    model = _new(cls)
    _set_dict(model, fields)
    # Extras count as set, as in `model_validate` (else `model_dump(exclude_unset=True)` drops them).
    _set_fields_set(model, fields.keys() | extra.keys() if extra else set(fields))
    _set_extra(model, extra)
    _set_private(model, None)
    return model


def _same(value: Any) -> Any:
    return value


def build_completion(
    *,
    envelope: dict[str, Any],
    extra: dict[str, Any],
    usage: dict[str, Any] | None,
    choices: Iterable[ChoiceState],
    done: bool,
    replaced: int,
    detach: bool,
) -> ChatCompletion:
    """The completion from the merged state.

    ``detach`` copies every mutable value, for a ``snapshot`` taken while the stream may still
    change. The final completion (and an error's partial) is built once the assembler takes no
    more input, so it can share the state it is built from.
    """
    cp: Callable[[Any], Any] = copy_json if detach else _same
    usage_model = None
    if usage is not None:
        counts = {k: usage.get(k) for k in _USAGE_FIELDS}
        usage_model = construct(Usage, counts, cp({k: v for k, v in usage.items() if k not in _USAGE_FIELDS}))
    return construct(
        ChatCompletion,
        {
            "id": envelope.get("id"),
            "object": "chat.completion",
            "created": envelope.get("created"),
            "model": envelope.get("model"),
            "system_fingerprint": envelope.get("system_fingerprint"),
            "service_tier": envelope.get("service_tier"),
            "choices": [_choice(c, cp) for c in choices],
            "usage": usage_model,
            "done_received": done,
            "replaced_characters": replaced,
        },
        cp(extra),
    )


def _choice(choice: ChoiceState, cp: Callable[[Any], Any]) -> Choice:
    tool_calls = None
    if choice.tools.calls:
        tool_calls = []
        for call in choice.tools.calls:
            arguments, _, error = call.check(parse=False)
            function = custom = None
            if call.kind == "custom":
                custom = construct(
                    CustomCall, {"name": call.name, "input": arguments}, cp(call.function_extra)
                )
            else:
                function = construct(
                    FunctionCall, {"name": call.name, "arguments": arguments}, cp(call.function_extra)
                )
            fields = {
                "id": call.id,
                "type": call.type or ("custom" if custom is not None else "function"),
                "function": function,
                "custom": custom,
                "extra_content": cp(call.extra_content),
                "arguments_error": error,
            }
            tool_calls.append(construct(ToolCall, fields, cp(call.extra)))
    function_call = None
    if choice.tools.function_call is not None:
        held = choice.tools.function_call
        function_call = construct(
            FunctionCall, {"name": held.name, "arguments": held.args.value()}, cp(held.function_extra)
        )
    audio = None
    held_audio = choice.audio
    if held_audio is not None:
        fields = {
            "id": held_audio.id,
            "data": held_audio.data.value() if held_audio.data is not None else None,
            "expires_at": held_audio.expires_at,
            "transcript": held_audio.transcript.value() if held_audio.transcript is not None else None,
            "extra_content": cp(held_audio.extra_content),
        }
        audio = construct(Audio, fields, cp(held_audio.extra))
    message_extra = cp(choice.delta_extra)
    if choice.details is not None and choice.details.entries:
        message_extra = dict(message_extra)
        message_extra["reasoning_details"] = [
            _detail(d) if type(d) is Detail else copy_json(d) for d in choice.details.entries
        ]
    message = construct(
        Message,
        {
            "role": choice.role or "assistant",
            "content": _content(choice, cp),
            "refusal": choice.refusal.value() if choice.refusal is not None else None,
            "reasoning_content": choice.reasoning.value() if choice.reasoning is not None else None,
            "tool_calls": tool_calls,
            "function_call": function_call,
            "annotations": cp(choice.annotations),
            "audio": audio,
            "extra_content": cp(choice.extra_content),
            "thinking_unterminated": choice.unterminated,
        },
        message_extra,
    )
    logprobs = None
    if choice.logprobs is not None:
        held_logprobs = choice.logprobs.held
        logprobs = construct(
            ChoiceLogprobs,
            {"content": cp(held_logprobs.get("content")), "refusal": cp(held_logprobs.get("refusal"))},
            cp({k: v for k, v in held_logprobs.items() if k not in ("content", "refusal")}),
        )
    return construct(
        Choice,
        {
            "index": choice.index,
            "message": message,
            "finish_reason": choice.finish_reason,
            "logprobs": logprobs,
        },
        cp(choice.extra),
    )


def _content(choice: ChoiceState, cp: Callable[[Any], Any]) -> str | list[Any] | None:
    """The answer: text, or a list of parts once a part that is not text arrived (Mistral)."""
    if choice.parts is None:
        return choice.text.value() if choice.content_seen else None
    parts: list[Any] = copy_json(choice.parts)
    run = choice.text.value()
    if run or choice.run_extra:
        parts.append({"type": "text", "text": run, **copy_json(choice.run_extra or {})})
    return parts


def _detail(detail: Detail) -> dict[str, Any]:
    out: dict[str, Any] = copy_json(detail.fields)
    for name, pieces in detail.pieces.items():
        out[name] = pieces.value()
    return out
