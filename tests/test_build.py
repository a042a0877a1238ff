"""Building the result: direct construction and the event factories equal the normal constructors."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

import chunkwise
from chunkwise import _events, _models
from chunkwise._build import construct

from helpers import chunk, delta_choice, run

MODELS = [
    _models.FunctionCall,
    _models.CustomCall,
    _models.ToolCall,
    _models.Audio,
    _models.Message,
    _models.ChoiceLogprobs,
    _models.Choice,
    _models.Usage,
    _models.ChatCompletion,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_construct_equals_model_validate(model: type[Any]) -> None:
    """`construct` with every declared field gives what `model_validate` gives, extras included, so a new
    field left out of the build would show up here."""
    fields = {name: info.get_default(call_default_factory=True) for name, info in model.model_fields.items()}
    if "index" in fields:
        fields["index"] = 3
    extra = {"server_field": {"kept": [1, "two"]}}
    built = construct(model, dict(fields), dict(extra))
    validated = model.model_validate({**fields, **extra})
    assert built == validated
    assert built.model_dump() == validated.model_dump()
    assert built.model_fields_set == validated.model_fields_set


def test_build_passes_every_declared_field() -> None:
    """The assembler's build names every declared field of every model it makes (none left to a default)."""
    completion, _ = run(
        [
            chunk(
                delta_choice(
                    role="assistant",
                    content="a",
                    tool_calls=[
                        {
                            "index": 0,
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                )
            ),
            chunk(
                {
                    "index": 0,
                    "delta": {"audio": {"id": "a", "data": "QQ=="}},
                    "logprobs": {"content": []},
                    "finish_reason": "stop",
                },
                usage={"prompt_tokens": 1},
            ),
        ]
    )
    choice = completion.choices[0]
    call = (choice.message.tool_calls or [])[0]
    for model in (
        completion,
        choice,
        choice.message,
        call,
        call.function,
        choice.message.audio,
        choice.logprobs,
        completion.usage,
    ):
        assert model is not None
        assert set(type(model).model_fields) <= model.model_fields_set, type(model).__name__


FACTORIES = [
    (_events.content_delta, (0, "x"), chunkwise.ContentDelta(choice=0, delta="x")),
    (_events.reasoning_delta, (1, "y"), chunkwise.ReasoningDelta(choice=1, delta="y")),
    (_events.arguments_delta, (2, 3, "z"), chunkwise.ToolCallArgumentsDelta(choice=2, call=3, delta="z")),
]


@pytest.mark.parametrize(("factory", "args", "expected"), FACTORIES, ids=lambda v: getattr(v, "__name__", ""))
def test_event_factories_equal_the_constructors(factory: Any, args: tuple[Any, ...], expected: Any) -> None:
    """The hot path's event factories build the very objects the dataclass constructor builds."""
    event = factory(*args)
    assert event == expected and hash(event) == hash(expected) and repr(event) == repr(expected)
    assert dataclasses.asdict(event) == dataclasses.asdict(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.delta = "changed"


def test_every_event_class_with_a_factory_is_covered() -> None:
    """Each event class that has a fast factory is in the list above, and each field is set by it."""
    made = {type(expected) for _, _, expected in FACTORIES}
    for factory, args, _ in FACTORIES:
        event = factory(*args)
        for f in dataclasses.fields(event):
            assert hasattr(event, f.name)
    assert made == {chunkwise.ContentDelta, chunkwise.ReasoningDelta, chunkwise.ToolCallArgumentsDelta}
    assert set(typing.get_args(chunkwise.Event)) >= made
