"""The assembled result: pydantic models in the shape of a non-streaming ``chat.completion``.

``completion.model_dump(exclude_none=True)`` is the JSON the same endpoint would have returned
without ``stream: true``, with two additions a stream makes possible: ``message.reasoning_content``
holds thinking text (from ``delta.reasoning_content``/``delta.reasoning`` or split out of tagged
content), and fields the server sent that this module does not name (Azure
``content_filter_results``, Groq ``x_groq``, Perplexity ``citations``, ...) are kept as extras.

A few facts about the stream itself are attributes excluded from the dump (``done_received``,
``ToolCall.arguments_error``, ``Message.thinking_unterminated``): they describe how the answer
arrived, not the answer.

The assembler builds these from values it has already checked, once, at the end (or on each
``snapshot``), so the hot path never touches pydantic; ``_build`` is the one place that does.
"""

from __future__ import annotations

import builtins
import copy
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._errors import OutputParseError
from ._payloads import Malformed
from ._payloads import loads as _strict_json
from ._payloads import parse_arguments as _read_arguments

__all__ = [
    "Audio",
    "ChatCompletion",
    "Choice",
    "ChoiceLogprobs",
    "CustomCall",
    "FunctionCall",
    "Message",
    "ToolCall",
    "Usage",
]


#: The caller's structured-output model (``Message.parse``, ``ToolCall.parse_arguments``).
M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    # Unknown fields are the server's data: keep them (docs/behaviour.md §2).
    model_config = ConfigDict(extra="allow")


class FunctionCall(_Model):
    name: str | None = None
    #: The arguments exactly as received, even when they are not valid JSON.
    arguments: str = ""


class CustomCall(_Model):
    """A custom tool call's name and free-form input (``type: "custom"``)."""

    name: str | None = None
    #: The input exactly as received; free-form text, never judged as JSON.
    input: str = ""


class ToolCall(_Model):
    id: str | None = None
    type: str = "function"
    #: The function and its arguments; None for a custom call.
    function: FunctionCall | None = None
    #: A custom tool call's name and input (``type: "custom"``); None for a function call.
    custom: CustomCall | None = None
    #: Gemini's per-call metadata; ``extra_content.google.thought_signature`` must go back unchanged.
    extra_content: dict[str, Any] | None = None
    #: Why ``function.arguments`` is not valid JSON, or None when it is. Not part of the dump.
    arguments_error: str | None = Field(default=None, exclude=True)

    @property
    def parsed_arguments(self) -> Any:
        """The arguments as a JSON value, or None when they are not valid JSON (see ``arguments_error``)
        or the call is a custom one."""
        if self.arguments_error is not None or self.function is None:
            return None
        return _read_arguments(self.function.arguments)[0]

    @property
    def thought_signature(self) -> str | None:
        """Gemini's thought signature for this call (``extra_content.google``, or ``.vertex``)."""
        return _thought_signature(self.extra_content)

    # `builtins.type`: the field `type` shadows it in this class.
    def parse_arguments(self, model: builtins.type[M], *, finish_reason: str | None = None) -> M:
        """The arguments validated as ``model`` (a pydantic model class).

        A call does not know how its choice ended: pass ``finish_reason=choice.finish_reason`` so
        arguments cut by ``length`` or ``content_filter`` are named as cut, not as invalid JSON.
        Raises ``OutputParseError`` (``reason``: ``length``, ``content_filter``, ``empty`` for a
        custom call, ``invalid`` with pydantic's ``validation_error``).
        """
        _check_model(model)
        body = self.function if self.function is not None else self.custom
        cut_text = None if body is None else body.arguments if isinstance(body, FunctionCall) else body.input
        _check_finish(finish_reason, "the call's arguments", cut_text)
        if self.function is None:
            raise OutputParseError(
                "a custom tool call has free-form input, not JSON arguments",
                reason="empty",
                finish_reason=finish_reason,
            )
        return _validate(model, self.function.arguments, finish_reason, "the call's arguments")


class Audio(_Model):
    """Audio output, and Gemini image output (Gemini returns images in ``message.audio.data``)."""

    id: str | None = None
    data: str | None = None
    expires_at: int | None = None
    transcript: str | None = None
    extra_content: dict[str, Any] | None = None


class Message(_Model):
    role: str = "assistant"
    #: The answer text; a list of parts only when the server sent non-text parts.
    content: str | list[Any] | None = None
    refusal: str | None = None
    #: Thinking text, kept apart from the answer.
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    #: The legacy (pre-tools) function call, when the server sent ``delta.function_call``.
    function_call: FunctionCall | None = None
    #: Citations (``url_citation`` objects) sent over any number of chunks, in arrival order.
    annotations: list[Any] | None = None
    audio: Audio | None = None
    extra_content: dict[str, Any] | None = None
    #: A ``<tag>`` thinking block was still open when the stream ended. Not part of the dump.
    thinking_unterminated: bool = Field(default=False, exclude=True)

    @property
    def thought_signature(self) -> str | None:
        """Message-level thought signature (Gemini signs text answers here)."""
        return _thought_signature(self.extra_content)

    def parse(self, model: type[M], *, finish_reason: str | None = None) -> M:
        """The content validated as ``model`` (a pydantic model class), for structured output
        (``response_format``).

        A message does not know how its choice ended: pass ``finish_reason=choice.finish_reason``
        so an answer cut by ``length`` or ``content_filter`` is named as cut, not as invalid JSON.
        Content sent as parts is parsed as its text parts joined. Raises ``OutputParseError``
        (``reason``: ``refusal``, ``length``, ``content_filter``, ``empty``, or ``invalid`` with
        pydantic's ``validation_error``).
        """
        _check_model(model)
        if self.refusal:
            raise OutputParseError(
                f"the model refused: {self.refusal[:200]}",
                reason="refusal",
                refusal=self.refusal,
                finish_reason=finish_reason,
            )
        content = self.content
        if isinstance(content, list):
            content = "".join(
                part["text"]
                for part in content
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            )
        _check_finish(finish_reason, "the answer", content or None)
        if not content:
            raise OutputParseError(
                "the message has no content to parse", reason="empty", finish_reason=finish_reason
            )
        return _validate(model, content, finish_reason, "the answer")

    def to_request_message(self, *, reasoning: bool = False) -> dict[str, Any]:
        """This message as the assistant message of the next request.

        Gemini 3 rejects a follow-up whose function calls lack the signature they came with
        (400 "Function call is missing a thought_signature in functionCall parts"), so each tool
        call keeps its own ``extra_content`` and the message keeps its own. Thinking text is left
        out by default (most servers do not take it back, and some refuse it); ``reasoning=True``
        sends it as ``reasoning_content``, which DeepSeek's and Kimi's thinking modes require on
        an assistant message with tool calls (400 "Missing `reasoning_content` field").
        OpenRouter's ``reasoning_details`` are kept, since that gateway carries Gemini signatures
        in them and asks for them back. A message that calls tools (or the legacy function) or
        answers in audio, with no text of its own (null or ""), has no ``content`` key: the form
        the Vertex page shows, and the OpenAI schema's ("required unless tool_calls or
        function_call is specified"; an audio answer is sent back by its id).
        """
        out: dict[str, Any] = {"role": self.role}
        carried = self.tool_calls or self.function_call or (self.audio is not None and self.audio.id)
        if self.content or not carried:
            out["content"] = copy.deepcopy(self.content)
        if self.refusal is not None:
            out["refusal"] = self.refusal
        if self.tool_calls:
            calls = []
            for call in self.tool_calls:
                # No id came (Gemini API 2025 sends "", some servers none): none goes back. A null
                # would be a wrong type to any server that reads the field.
                item: dict[str, Any] = {"id": call.id} if call.id else {}
                item["type"] = call.type
                if call.function is not None:
                    item["function"] = {"name": call.function.name, "arguments": call.function.arguments}
                if call.custom is not None:
                    item["custom"] = {"name": call.custom.name, "input": call.custom.input}
                if call.extra_content is not None:
                    item["extra_content"] = copy.deepcopy(call.extra_content)
                calls.append(item)
            out["tool_calls"] = calls
        if self.function_call is not None:
            legacy = self.function_call
            out["function_call"] = {"name": legacy.name, "arguments": legacy.arguments}
        if self.extra_content is not None:
            out["extra_content"] = copy.deepcopy(self.extra_content)
        if reasoning and self.reasoning_content is not None:
            out["reasoning_content"] = self.reasoning_content
        if self.audio is not None and self.audio.id is not None:
            out["audio"] = {"id": self.audio.id}
        extra = self.__pydantic_extra__ or {}
        if extra.get("reasoning_details"):
            out["reasoning_details"] = copy.deepcopy(extra["reasoning_details"])
        return out


class ChoiceLogprobs(_Model):
    content: list[Any] | None = None
    refusal: list[Any] | None = None


class Choice(_Model):
    index: int
    message: Message = Field(default_factory=Message)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None

    def parse(self, model: type[M]) -> M:
        """``message.parse`` with this choice's finish reason, so a cut answer is reported as cut."""
        return self.message.parse(model, finish_reason=self.finish_reason)


class Usage(_Model):
    """Token counts exactly as the server reported them (never summed, never estimated)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class ChatCompletion(_Model):
    id: str | None = None
    object: str = "chat.completion"
    created: int | None = None
    model: str | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    choices: list[Choice] = Field(default_factory=list)
    usage: Usage | None = None
    #: Whether ``data: [DONE]`` arrived. Not part of the dump.
    done_received: bool = Field(default=False, exclude=True)
    #: How many lone UTF-16 surrogates (text that cannot be valid Unicode) were replaced by U+FFFD.
    #: Not part of the dump.
    replaced_characters: int = Field(default=0, exclude=True)

    @property
    def message(self) -> Message:
        """The first choice's message (the usual ``n = 1`` case). Raises IndexError if there is none."""
        return self.choices[0].message

    def to_request_message(self, choice: int = 0, *, reasoning: bool = False) -> dict[str, Any]:
        """The message of the choice at list position ``choice``, ready to send back (``reasoning``:
        as ``Message.to_request_message``)."""
        return self.choices[choice].message.to_request_message(reasoning=reasoning)


def _check_finish(finish_reason: str | None, what: str, text: str | None) -> None:
    """``length`` and ``content_filter`` cut the output: whatever it is, it is not the whole answer.
    The error keeps the text that came (``text``, as its docstring says), for a caller to salvage."""
    for cut in ("length", "content_filter"):
        if finish_reason == cut:
            raise OutputParseError(
                f"{what} was cut short (finish_reason {cut!r})", reason=cut, text=text, finish_reason=cut
            )


def _check_model(model: Any) -> None:
    """A caller's mistake, said as one: ``parse(dict)`` failed with an AttributeError deep inside."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"model must be a pydantic model class, not {model!r}")


def _validate(model: type[M], text: str, finish_reason: str | None, what: str) -> M:
    try:
        value = model.model_validate_json(text)
    except ValidationError as exc:
        raise OutputParseError(
            f"{what} is not a valid {model.__name__}: {exc.error_count()} error(s), first: "
            f"{exc.errors()[0]['msg']}",
            reason="invalid",
            text=text,
            finish_reason=finish_reason,
            validation_error=exc,
        ) from exc
    # JSON as chunkwise reads it everywhere: pydantic's reading takes NaN and Infinity, which
    # `arguments_error` and `parsed_arguments` call invalid (behaviour.md 11.6). Those are the only
    # values it takes that chunkwise refuses, and both are spelled so, so only such a text is read
    # a second time.
    if "NaN" in text or "Infinity" in text:
        try:
            _strict_json(text)
        except Malformed as exc:
            raise OutputParseError(
                f"{what}: {exc}", reason="invalid", text=text, finish_reason=finish_reason
            ) from None
    return value


def _thought_signature(extra: dict[str, Any] | None) -> str | None:
    if not extra:
        return None
    for vendor in ("google", "vertex"):
        part = extra.get(vendor)
        if isinstance(part, dict):
            sig = part.get("thought_signature")
            if isinstance(sig, str) and sig:
                return sig
    return None
