"""The tool calls of one choice (and its legacy ``function_call``): identity, and the per-field rules.

Identity (docs/behaviour.md §5): a fragment with a non-empty id is the call with that id (or the
call opened at its index without one); without id, the call last seen at its index; without
either, the most recent call, unless it names a function after that call already has its name
and arguments (the Gemini API's whole calls with ``"id": ""``). Calls keep first-seen order, and
``Call.position`` is what events call ``call``.

Fields: ``id``, ``type`` and the name are set once (a repeat is not appended: Vertex repeats them on
every fragment); arguments (a custom call's ``input``) are appended; ``extra_content`` is merged
(Gemini's signatures); other fields follow ``_merge``. A call is done when its choice finishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._events import (
    Event,
    FunctionCallArgumentsDelta,
    FunctionCallStarted,
    ToolCallDone,
    ToolCallStarted,
    arguments_delta,
)
from ._limits import Limits, merge, refuse_reserved, small_int, string_field
from ._payloads import UNPARSED, Malformed, parse_arguments
from ._text import Pieces

if TYPE_CHECKING:
    from ._choice import ChoiceState

__all__ = ["Call", "Calls", "call_type", "has_signature"]

_CALL_KNOWN = frozenset(("id", "index", "type", "function", "custom", "extra_content"))
_CALL_RESERVED = frozenset(("arguments_error",))  # the result's own field (see refuse_reserved)
_FUNCTION_KNOWN = frozenset(("name", "arguments"))
# The fields of a fragment that restates a known call (Vertex), without news of its own.
_REPEAT_KNOWN = frozenset(("id", "index", "type", "function"))
_CUSTOM_KNOWN = frozenset(("name", "input"))


class Call:
    """One tool call (or the legacy ``function_call``) being assembled."""

    __slots__ = (
        "args",
        "checked",
        "extra",
        "extra_content",
        "function_extra",
        "id",
        "kind",
        "name",
        "position",
        "type",
    )

    def __init__(self, position: int) -> None:
        self.position = position
        self.id: str | None = None
        self.type: str | None = None
        #: "function" or "custom" once a fragment said which (``function`` or ``custom`` object).
        self.kind: str | None = None
        self.name: str | None = None
        #: Function arguments, or a custom call's free-form ``input``.
        self.args = Pieces()
        self.extra_content: dict[str, Any] | None = None
        self.extra: dict[str, Any] | None = None
        #: Unknown fields of the ``function`` (or ``custom``) object.
        self.function_extra: dict[str, Any] | None = None
        # (length of the arguments text checked, parsed value, error): JSON is parsed once per change.
        self.checked: tuple[int, Any, str | None] | None = None

    def check(self, parse: bool = True) -> tuple[str, Any, str | None]:
        """Arguments text, its parsed JSON value, and the error when it is not JSON (§5).

        Invalid JSON (a ``length`` finish, Vertex's unescaped newlines) is kept verbatim and
        reported, never replaced. A custom call's input is free-form text: never judged. With
        ``parse=False`` the text is only validated and the parsed value is ``UNPARSED``: building
        every object of a large argument value just to drop it would cost more than the answer.
        """
        text = self.args.value()
        if self.kind == "custom":
            return text, None, None
        checked = self.checked
        if checked is not None and checked[0] == len(text) and (checked[1] is not UNPARSED or not parse):
            return text, checked[1], checked[2]
        parsed, error = parse_arguments(text, parse)
        self.checked = (len(text), parsed, error)
        return text, parsed, error


class Calls:
    """The calls of one choice, found by id and by index, in first-seen order."""

    __slots__ = ("by_id", "by_index", "calls", "choice", "function_call", "last", "limits", "reopened")

    def __init__(self, choice: ChoiceState, limits: Limits) -> None:
        self.choice = choice
        self.limits = limits
        self.calls: list[Call] = []
        self.by_id: dict[str, Call] = {}
        self.by_index: dict[int, Call] = {}
        self.last: Call | None = None
        #: The legacy ``delta.function_call``, when the server sent one.
        self.function_call: Call | None = None
        #: Calls opened by an entry that restates its choice's finish, while it is applied
        #: (``ChoiceState.apply``); None otherwise.
        self.reopened: list[Call] | None = None

    def late(self, what: str, call: Call) -> None:
        """Refuse more of a call once its choice finished, unless the call was opened by an entry
        that restates the finish (OpenRouter), and so is complete on arrival."""
        if self.reopened is None or call not in self.reopened:
            self.choice.late(what)

    def apply(self, fragment: Any, out: list[Event] | None) -> None:
        """One entry of ``delta.tool_calls``."""
        if type(fragment) is not dict:
            raise Malformed("each entry of `delta.tool_calls` must be an object")
        # Two hot paths take a fragment that only adds arguments to a known function call; anything
        # else, or any doubt, goes to `_apply`, which reads every field by its rule.
        function = fragment.get("function")
        if type(function) is dict:
            call_id = fragment.get("id")
            index = fragment.get("index")
            if call_id is None:
                # OpenAI: `{"index": i, "function": {"arguments": "..."}}`.
                call = None
                if (
                    len(fragment) == 2
                    and len(function) == 1
                    and "arguments" in function
                    and type(index) is int
                ):
                    call = self.by_index.get(index)
            elif type(call_id) is str and _REPEAT_KNOWN.issuperset(fragment):
                # Vertex: id, index, type and name restated on every fragment of the call. Taken here
                # only when each restates what the call already has (§5); `index` may move.
                call = self.by_id.get(call_id)
                if call is not None and (
                    (index is not None and not small_int(index))
                    or function.get("name", call.name) != call.name
                    or fragment.get("type", call.type) != call.type
                    or not _FUNCTION_KNOWN.issuperset(function)
                ):
                    call = None
                elif call is not None and index is not None:
                    self.by_index[index] = call
            else:
                call = None
            arguments = function.get("arguments", "") if call is not None else None
            if type(arguments) is str and call is not None and call.kind == "function":
                self.last = call
                if arguments:
                    if self.choice.finish_reason is not None:
                        self.late("tool-call arguments", call)
                    arguments = call.args.add(arguments, self.limits.tally)
                    if out is not None and arguments:
                        out.append(arguments_delta(self.choice.index, call.position, arguments))
                return
        self._apply(fragment, out)

    def _apply(self, fragment: dict[str, Any], out: list[Event] | None) -> None:
        # Vertex repeats id, name and type on every fragment: the plain ASCII string and the small
        # int (nearly every value) are taken without a call; the checks run for the rest.
        call_id = fragment.get("id")
        index = fragment.get("index")
        if call_id is not None and (type(call_id) is not str or not call_id.isascii()):
            call_id = string_field(call_id, "tool_calls[].id", self.limits)
        if index is not None and (type(index) is not int or not small_int(index)):
            raise Malformed("`tool_calls[].index` must be an integer")
        function = fragment.get("function")
        custom = fragment.get("custom")
        if function is not None and type(function) is not dict:
            raise Malformed("`tool_calls[].function` must be an object")
        if custom is not None and type(custom) is not dict:
            raise Malformed("`tool_calls[].custom` must be an object")
        body = function if function is not None else custom
        name = body.get("name") if body is not None else None
        if name is not None and (type(name) is not str or not name.isascii()):
            name = string_field(name, "tool_calls[].function.name", self.limits)

        call = self.identify(call_id, index, name)  # §5
        started = call is None
        if call is None:
            if self.choice.finish_reason is not None and self.reopened is None:
                self.choice.late("a new tool call")
            if len(self.calls) >= self.limits.max_tool_calls:
                limit = self.limits.max_tool_calls
                raise Malformed(
                    f"choice {self.choice.index} has more than {limit} tool calls (max_tool_calls)"
                )
            call = Call(len(self.calls))
            self.calls.append(call)
            if self.reopened is not None:
                self.reopened.append(call)
        added = ""  # the arguments this fragment adds, once added
        try:
            if call_id and call.id is None:
                call.id = call_id
                self.by_id[call_id] = call
            if index is not None:
                self.by_index[index] = call
            self.last = call

            # The kind, from the body sent or the `type` named: a custom call named "function" later (or
            # the reverse) is one call sent as both, whichever came first.
            named = fragment.get("type")
            kind = "custom" if custom is not None or named == "custom" else None
            if function is not None or named == "function":
                kind = "function" if kind is None else "both"
            if kind is not None and kind != call.kind:
                if call.kind is not None or kind == "both":
                    raise Malformed(
                        f"tool call {call.position} is sent both as a function and as a custom call"
                    )
                call.kind = kind

            if body is not None:
                field = "input" if body is custom else "arguments"
                # The name (§5): set once. The Vertex repeat of the same name is not appended (openai-
                # python, pydantic-ai and LangChain make `get_weatherget_weather` of it). Older servers
                # stream a name in pieces without an id: appended while the call has no arguments yet.
                # A different name under an id is a server inconsistency: the first name is kept, since
                # the arguments were written for it. (Without an id, a different name once arguments
                # began opens the next call: `identify`, §5.5.)
                if name and name != call.name:
                    if call.name is None:
                        call.name = name
                    elif not call_id and call.args.empty():
                        if self.choice.finish_reason is not None:
                            self.late("a tool-call name", call)
                        call.name += name
                text = body.get(field)
                if text is not None:
                    if type(text) is not str:
                        where = "custom" if body is custom else "function"
                        raise Malformed(f"`tool_calls[].{where}.{field}` must be a string")
                    if text:
                        if self.choice.finish_reason is not None:
                            self.late("tool-call arguments", call)
                        added = call.args.add(text, self.limits.tally)
                known = _CUSTOM_KNOWN if body is custom else _FUNCTION_KNOWN
                if not known.issuperset(body):
                    if call.function_extra is None:
                        call.function_extra = {}
                    merge(call.function_extra, {k: v for k, v in body.items() if k not in known}, self.limits)

            kind_field = fragment.get("type")
            if kind_field is not None and kind_field != call.type:
                kind_field = string_field(kind_field, "tool_calls[].type", self.limits)
                if call.type is None and kind_field:
                    call.type = kind_field  # set once; Vertex repeats it on every fragment
            extra_content = fragment.get("extra_content")
            if extra_content is not None:
                if type(extra_content) is not dict:
                    raise Malformed("`tool_calls[].extra_content` must be an object")
                # Gemini signs the first call of a parallel set on its first fragment, or on a trailing
                # metadata-only fragment; whichever carries it, it lands on this call (§6).
                if call.extra_content is None:
                    call.extra_content = {}
                merge(call.extra_content, extra_content, self.limits, whole=True)
            if not _CALL_KNOWN.issuperset(fragment):
                refuse_reserved(fragment, _CALL_RESERVED, "tool_calls[]")
                if call.extra is None:
                    call.extra = {}
                merge(call.extra, {k: v for k, v in fragment.items() if k not in _CALL_KNOWN}, self.limits)
        finally:
            # The events say what was merged, also when a later field of the fragment is refused:
            # the call and its arguments stay in the partial, so its events must show them (§11).
            if out is not None:
                if started:
                    out.append(
                        ToolCallStarted(
                            choice=self.choice.index,
                            call=call.position,
                            id=call.id,
                            name=call.name,
                            call_type=call_type(call),
                        )
                    )
                if added:
                    out.append(arguments_delta(self.choice.index, call.position, added))

    def identify(self, call_id: Any, index: Any, name: Any) -> Call | None:
        """The call a fragment with this id, index and name continues, or None for a new call.

        Identity (§5): by id first (Vertex repeats the id but shifts `index` for the same call,
        and may put several parallel calls at index 0); then by the call last seen at this index
        (OpenAI sends the id on the first fragment only); then the most recent call (Gemini's
        metadata-only trailing fragment carries neither). An empty id is no id (Gemini API 2025).
        ``ChoiceState.refuse_late`` asks the same question before anything is merged.
        """
        if call_id:
            call = self.by_id.get(call_id) if type(call_id) is str else None
            if call is None and type(index) is int:
                held = self.by_index.get(index)
                if held is not None and held.id is None:
                    call = held  # the call opened without an id; this is its id, not a new call
            return call
        if index is not None:
            if type(index) is not int:
                return None
            call = self.by_index.get(index)
            if call is not None and name and call.name and name != call.name and not call.args.empty():
                # Whole calls at one index without ids (Ollama and others put every parallel call
                # at 0): a fragment naming another function once this call has its name and
                # arguments is the next call. Ignoring its name would glue two calls into one and
                # lose the second's name. (The same name again may be a restatement: it joins.)
                return None
            return call
        call = self.last
        if call is not None and name and call.name and not call.args.empty():
            # Gemini API: whole calls, one per fragment, with `"id": ""` and no index. A fragment
            # that names a function after the last call already has its name and arguments is
            # the next call; gluing it on would make one call of two.
            return None
        return call

    def apply_function_call(self, value: Any, out: list[Event] | None) -> None:
        """The legacy ``delta.function_call`` (§10): name set once, arguments appended."""
        if type(value) is not dict:
            raise Malformed("`delta.function_call` must be an object")
        call = self.function_call
        name = value.get("name")
        arguments = value.get("arguments")
        if name is not None:
            name = string_field(name, "function_call.name", self.limits)
        if arguments is not None and type(arguments) is not str:
            raise Malformed("`function_call.arguments` must be a string")
        if call is None:
            self.choice.late("a function call")
            call = self.function_call = Call(0)
            call.kind = "function"
            if out is not None:
                out.append(FunctionCallStarted(choice=self.choice.index, name=name or None))
        if name and call.name is None:
            call.name = name
        if arguments:
            self.choice.late("function-call arguments")
            added = call.args.add(arguments, self.limits.tally)
            if out is not None and added:
                out.append(FunctionCallArgumentsDelta(choice=self.choice.index, delta=added))
        rest = {k: v for k, v in value.items() if k not in _FUNCTION_KNOWN}
        if rest:
            if call.function_extra is None:
                call.function_extra = {}
            merge(call.function_extra, rest, self.limits)

    def done(self, call: Call) -> ToolCallDone:
        """The call's ``ToolCallDone``: its arguments checked now that its choice finished."""
        arguments, parsed, error = call.check()
        return ToolCallDone(
            choice=self.choice.index,
            call=call.position,
            id=call.id,
            name=call.name,
            arguments=arguments,
            parsed=parsed,
            error=error,
            has_thought_signature=has_signature(call.extra_content),
            call_type=call_type(call),
        )


def call_type(call: Call) -> str:
    """``function`` or ``custom``: what the call is, for its events and its result."""
    return call.type or ("custom" if call.kind == "custom" else "function")


def has_signature(extra: dict[str, Any] | None) -> bool:
    """Whether ``extra_content`` holds a Gemini thought signature (``google`` or ``vertex``)."""
    if not extra:
        return False
    return any(
        type(extra.get(v)) is dict and bool(extra[v].get("thought_signature")) for v in ("google", "vertex")
    )
