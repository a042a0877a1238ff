"""JSON that arrives in pieces, read as far as it goes: the best-effort value after every piece.

Structured output (``response_format``) and tool-call arguments stream as JSON text cut anywhere: in
a string, in an escape, in a ``\\uXXXX``, between the halves of a surrogate pair, in a number or a
literal. ``PartialJSON`` takes the pieces (``feed``) and answers, at any moment, with the value the
text so far stands for (``value()``): the answer pydantic-core gives for the whole prefix with
``from_json(prefix, allow_partial="trailing-strings")``, the usual way to a partial value. Calling
that after every chunk re-parses the prefix each time, so a stream of N chunks costs O(N^2); this
parser keeps its state between pieces and costs O(N) in all.

Theory of operation
-------------------
The parser is a pushdown automaton kept between calls:

* ``_stack``: the open containers, outermost first. A container is created when its bracket is read
  and inserted into its parent (or made the root) at once, as pydantic-core shows an open container
  (``{"a": [`` reads as ``{"a": []}``). Members are added to it when they complete, so the value is
  built once, in place, and never rebuilt.
* ``_state``: what the text may hold next (the table below). Every transition is in ``_step`` and
  the handlers it calls; each handler consumes some of the text and returns where it stopped.
* ``_key``: the key read for the innermost object, waiting for its value.
* ``_chars``: the decoded pieces of the string being read (a key or a value). Bodies are copied in
  runs found by one regular expression (up to the next quote, backslash or control character), not
  a character at a time.
* ``_carry``: a token cut by the end of a piece that cannot be judged yet: a number (``12`` may go
  on to ``12.5``), a literal (``tr``), an escape (``\\u00``, or a high surrogate ``\\ud83d`` whose
  low half may open the next piece). The next piece is read as ``_carry + piece``. A carried token
  is short (an escape at most 12 characters, a literal 4), so the copies cost about the text's own
  size; only a number cut into many pieces is copied (and, by ``value()``, read) once per piece.

================  ===============================  =============================================
``_State``        the text may hold next           what it does
================  ===============================  =============================================
``TOP``           the document's value             a value starts (whitespace is skipped)
``END``           nothing: the value is whole      whitespace; anything else fails
``ARRAY_FIRST``   a value or ``]``                 value -> ``ARRAY_NEXT``; ``]`` closes
``ARRAY_VALUE``   a value (after ``,``)            value -> ``ARRAY_NEXT``
``ARRAY_NEXT``    ``,`` or ``]``                   ``,`` -> ``ARRAY_VALUE``; ``]`` closes
``OBJECT_FIRST``  a key or ``}``                   ``"`` -> ``KEY``; ``}`` closes
``OBJECT_KEY``    a key (after ``,``)              ``"`` -> ``KEY``
``COLON``         ``:``                            ``:`` -> ``OBJECT_VALUE``
``OBJECT_VALUE``  a value                          value -> ``OBJECT_NEXT``
``OBJECT_NEXT``   ``,`` or ``}``                   ``,`` -> ``OBJECT_KEY``; ``}`` closes
``STRING``        a string value's body            ``"`` completes it, as a value
``KEY``           a key's body                     ``"`` completes it -> ``COLON``
================  ===============================  =============================================

Where a value starts: ``"`` enters ``STRING``; ``[`` or ``{`` creates the container, puts it into its
parent (or makes it the root), pushes it and enters ``ARRAY_FIRST`` or ``OBJECT_FIRST``; a number or
a literal is read whole, or carried when the piece ends inside it (a number is whole only once a
character follows that cannot continue it). A completed value goes where the stack says: appended
to the open array, stored under ``_key`` in the open object, or made the root; the state becomes
``ARRAY_NEXT``, ``OBJECT_NEXT`` or ``END``. Closing a container pops it, with the same next state.

The open tail
-------------
``value()`` adds what is still open at the innermost level, as pydantic-core does: the string value
being read (without an escape cut in half, and without a high surrogate whose pair may follow) or a
number carried whole so far (``12``, not ``12.`` or ``-``). It puts that tail into the innermost
container and takes it out again at the next ``feed``; for an object whose key was already set (a
duplicate key) it puts the earlier value back, as pydantic-core does for ``{"a":"b","a":1.``. This is
the only per-call work besides the call itself, and for an open string it costs the string's length:
Python strings are immutable, so each answer that shows a longer open string is a new string. Asking
after every piece while one long string is open is quadratic in *that string's* length (a copy of
it per call, at memory speed); everything closed stays shared. Measured (benchmarks/partial_bench.py,
20k chunks, value() after each): 1.3 us per chunk for a list of records at 2k and at 20k chunks;
for an answer that is one 79 kB string, 1.3 us at 2k chunks and 2.6 us at 20k (from_json of the
prefix: 41 us).

Where this parser answers differently from ``from_json(prefix, allow_partial="trailing-strings")``
(each one deliberate, and tested):

* Before any value starts (empty text, whitespace), and when a top-level scalar has not reached a
  form pydantic-core accepts (``-``, ``1.``, ``tr``), ``value()`` is ``None``; ``from_json`` raises.
* Text that cannot be JSON: ``from_json`` raises (``[1,]``, ``{"a" 1``, ``abc``, a Markdown fence
  before the JSON) or quietly ignores what follows a complete value (``[1] x``, ``[1 2``, ``[truex``).
  Here the parser stops where the text stops being JSON: ``failed`` becomes true, ``error`` says
  what and where, later pieces are ignored, and ``value()`` keeps answering with the value of the
  longest prefix that could still have become JSON (``[1]`` for ``[1 2``, ``[0]`` for ``[01``). Where
  ``from_json`` does not raise, that value is the one it gives. ``feed`` never raises.
* ``NaN``, ``Infinity`` and ``-Infinity``: ``from_json`` reads them by default; they are not JSON,
  and no dump could write them back, so here they fail.
* Lone surrogate escapes (``"\\ud83d"``, ``"\\ude00"``, ``"\\ud83d\\u0041"``): ``from_json`` refuses
  them; ``json.loads`` keeps the lone surrogate, and so does this parser, so that the last answer is
  ``json.loads``' answer for the whole text (as the stream's final arguments are read, ``_payloads``).
  A high surrogate at the very end of the text is held back by both parsers until the next character
  says whether it is half of a pair.
* An integer of more than 4300 digits (Python's limit on ``int(str)``): both ``from_json`` and
  ``json.loads`` refuse it; here it is read as a ``decimal.Decimal``, exactly, as the stream's final
  arguments are read (``_payloads.parse_arguments``).
* Nesting deeper than ``max_depth`` (default 64) fails; ``from_json``'s own limit is about 200.

Text before the JSON (a model that writes a Markdown fence, or a sentence, before its structured
output) fails at its first character and ``value()`` stays None: where the JSON starts is the
caller's decision, and a parser that skipped text would also skip the mistakes it should report.

Sharing
-------
``value()`` returns the parser's own containers, not a copy: later calls to ``feed`` change them in
place (members added, the open tail taken out and put back). Read the answer before the next
``feed``, and copy it (``copy.deepcopy``) to keep it; do not change it. A copy per call would cost
the whole value's size per call, which is the quadratic cost this module exists to avoid.

A piece long enough to hold whole values (a call's arguments sent whole in one chunk, a document
fed at once) is read by the standard library's C scanner where it can be (``_FAST_MIN``). Measured
on benchmarks/partial_bench.py's 80 kB list of records, value() after each piece: fed whole, 0.9 ms
(``json.loads``: 0.6 ms; the loop here alone: 9.5 ms); in 1 kB pieces, 3.1 ms (loop alone: 10 ms);
in 64-character pieces, no difference. A value the scanner cannot finish is read again by the loop,
so each character is scanned at most a few times more (once per container still open at the end of
the piece).
"""

from __future__ import annotations

import json
import json.scanner
import re
from decimal import Decimal
from enum import IntEnum
from typing import Any

__all__ = ["DEFAULT_MAX_DEPTH", "PartialJSON"]

#: Containers nested deeper than this fail the document (an answer's own value rarely needs ten).
DEFAULT_MAX_DEPTH = 64


class _State(IntEnum):
    """What the text may hold next (the table in the module docstring)."""

    TOP = 0
    END = 1
    ARRAY_FIRST = 2
    ARRAY_VALUE = 3
    ARRAY_NEXT = 4
    OBJECT_FIRST = 5
    OBJECT_KEY = 6
    COLON = 7
    OBJECT_VALUE = 8
    OBJECT_NEXT = 9
    STRING = 10  # the two string states last: `state >= _STRING` tests for both
    KEY = 11


# The loop reads these module names: `_State.TOP` is an attribute lookup on each use, which made
# a token 35% slower (benchmarks/partial_bench.py's stream, 20k chunks, value() after each).
_TOP = _State.TOP
_END = _State.END
_ARRAY_FIRST = _State.ARRAY_FIRST
_ARRAY_VALUE = _State.ARRAY_VALUE
_ARRAY_NEXT = _State.ARRAY_NEXT
_OBJECT_FIRST = _State.OBJECT_FIRST
_OBJECT_KEY = _State.OBJECT_KEY
_COLON = _State.COLON
_OBJECT_VALUE = _State.OBJECT_VALUE
_OBJECT_NEXT = _State.OBJECT_NEXT
_STRING = _State.STRING
_KEY = _State.KEY

_WHITESPACE = " \t\n\r"  # RFC 8259 §2: the only insignificant whitespace
_SKIP_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A string body up to the next character that needs thought: the closing quote, an escape, or a
# control character (RFC 8259 §7: U+0000 to U+001F must be escaped; both json.loads and from_json
# refuse them raw).
_BODY = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPE = re.compile(r'\\(?:(["\\/bfnrt])|u([0-9a-fA-F]{4}))')
# The longest start of an escape still valid (at the end of a piece, the part to carry).
_ESCAPE_START = re.compile(r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{0,4})?')
_LOW_SURROGATE = re.compile(r"\\u([dD][c-fC-F][0-9a-fA-F]{2})")
# The start of a low surrogate escape (what may follow a high one and still become its pair).
_LOW_SURROGATE_START = re.compile(r"(?:\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]{0,2})?)?)?)?")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# The longest start of a number still valid: each part may only begin once the part before it is
# whole ("1.e5" stops at "1."), so the greedy match is the longest such prefix.
_NUMBER_START = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.(?:[0-9]+(?:[eE][+-]?[0-9]*)?)?|[eE][+-]?[0-9]*)?)?")
_NUMBER_FIRST = frozenset("-0123456789")
_LITERALS: dict[str, tuple[str, Any]] = {"t": ("true", True), "f": ("false", False), "n": ("null", None)}
_VALUE_STATES = frozenset({_TOP, _ARRAY_FIRST, _ARRAY_VALUE, _OBJECT_VALUE})

# Pieces at least this long are first offered to the C scanner at each value that starts in them.
# Shorter ones (a token or two, as most chunks are) hold no whole value worth the attempt.
_FAST_MIN = 48


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# `json.loads`' own scanner (the C one where available): whole values at C speed, same answers.
# (typeshed types the argument as a scanner; the scanner reads the decoder's settings off it.)
_scan = json.scanner.make_scanner(json.JSONDecoder(parse_constant=_reject_constant))  # type: ignore[arg-type]


class _Missing:
    __slots__ = ()


#: No open tail to show, or no earlier value under the open tail's key.
_MISSING: Any = _Missing()


class _Invalid(Exception):
    """Raised inside ``feed`` where the text stops being JSON; ``feed`` turns it into ``error``."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


def _number(token: str) -> Any:
    """A whole JSON number token as Python reads it: ``int``, or ``float`` with a fraction/exponent."""
    if "." in token or "e" in token or "E" in token:
        return float(token)
    try:
        return int(token)
    except ValueError:  # more digits than Python's int(str) limit (4300): exact, as _payloads reads it
        return Decimal(token)


def _depth(value: Any, limit: int) -> int:
    """How deeply the containers of a parsed value nest, or ``limit + 1`` when deeper than ``limit``.

    A walk over the containers: for an 80 kB answer, a quarter of what stripping its strings out of
    the text with a regular expression took, and exact.
    """
    deepest = 0
    todo = [(value, 1)]
    while todo:
        container, depth = todo.pop()
        if depth > deepest:
            deepest = depth
            if depth > limit:
                break
        for item in container.values() if type(container) is dict else container:
            if type(item) is dict or type(item) is list:
                todo.append((item, depth + 1))
    return deepest


class PartialJSON:
    """One JSON document fed in pieces; ``value()`` is the best-effort value after each of them.

    ``feed`` never raises. See the module docstring for the value's semantics, the differences from
    pydantic-core's partial parsing, and why the returned value must not be kept without a copy.
    """

    __slots__ = (
        "_answer",
        "_carry",
        "_chars",
        "_error",
        "_fed",
        "_fresh",
        "_key",
        "_max_depth",
        "_placed",
        "_root",
        "_stack",
        "_state",
    )

    def __init__(self, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self._max_depth = max_depth
        self._state = _TOP
        self._stack: list[Any] = []
        self._root: Any = None
        self._key = ""
        self._chars: list[str] = []
        self._carry = ""
        self._fed = 0  # characters fed so far (the offset of the next piece)
        self._error: str | None = None
        # The open tail now in the innermost container: (container, key or None, earlier value).
        self._placed: tuple[Any, Any, Any] | None = None
        self._fresh = False  # whether `_answer` is value()'s answer for the text fed so far
        self._answer: Any = None

    @property
    def failed(self) -> bool:
        """Whether the text stopped being JSON; ``value()`` then stays what it was at that point."""
        return self._error is not None

    @property
    def error(self) -> str | None:
        """Why the text cannot be JSON, and at which character of the whole text; None when it can."""
        return self._error

    @property
    def complete(self) -> bool:
        """Whether the text fed so far is one whole JSON value (and whitespace), and nothing else.

        A top-level number is whole once it can be read as one: ``12`` is complete, though ``3``
        may follow.
        """
        if self._error is not None:
            return False
        if self._state == _END:
            return True
        return self._state == _TOP and _NUMBER.fullmatch(self._carry) is not None

    def feed(self, text: str) -> None:
        """Append the next piece of the document, cut anywhere. Ignored once ``failed``."""
        if self._error is not None or not text:
            return
        self._fresh = False
        if self._placed is not None:
            self._unplace()
        start = self._fed - len(self._carry)  # the offset of text[0] in the whole document
        self._fed += len(text)
        if self._carry:
            text = self._carry + text
            self._carry = ""
        try:
            self._step(text)
        except _Invalid as exc:
            position = start + exc.position
            near = text[exc.position : exc.position + 1]
            found = f"{near!r}" if near else "the end"
            self._error = f"{exc.message} at character {position} (found {found})"

    def value(self) -> Any:
        """The value the text so far stands for; None before any value starts (and for ``null``).

        The containers are the parser's own and change with the next ``feed`` (module docstring).
        """
        if self._fresh:
            return self._answer
        self._fresh = True
        if self._placed is not None:
            self._unplace()
        answer = self._root
        tail = self._tail()
        if tail is not _MISSING:
            stack = self._stack
            if not stack:
                answer = tail  # a top-level string or number, still open
            elif type(stack[-1]) is list:
                stack[-1].append(tail)
                self._placed = (stack[-1], None, None)
            else:
                container, key = stack[-1], self._key
                self._placed = (container, key, container.get(key, _MISSING))
                container[key] = tail
        self._answer = answer
        return answer

    # ---------------------------------------------------------------- the open tail

    def _tail(self) -> Any:
        """The innermost value still open, as far as it reads; ``_MISSING`` when nothing shows."""
        state = self._state
        if state == _STRING:
            chars = self._chars
            if len(chars) != 1:
                chars[:] = ["".join(chars)]  # joined once per answer; the next joins one more piece
            return chars[0]
        carry = self._carry
        if carry and state in _VALUE_STATES and carry[0] in _NUMBER_FIRST and _NUMBER.fullmatch(carry):
            return _number(carry)
        return _MISSING

    def _unplace(self) -> None:
        placed = self._placed
        assert placed is not None
        self._placed = None
        container, key, earlier = placed
        if key is None:
            container.pop()
        elif earlier is _MISSING:
            del container[key]
        else:
            container[key] = earlier

    # ---------------------------------------------------------------- transitions

    def _step(self, text: str) -> None:
        """Consume ``text`` (raising ``_Invalid`` where it stops being JSON)."""
        end = len(text)
        pos = 0
        while pos < end:
            state = self._state
            if state >= _STRING:
                pos = self._string(text, pos)
                continue
            if text[pos] in _WHITESPACE:
                pos = _SKIP_WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]  # * matches
                if pos == end:
                    return
            char = text[pos]
            if state in _VALUE_STATES:
                if char == "]" and state == _ARRAY_FIRST:
                    self._close()
                    pos += 1
                else:
                    pos = self._value(text, pos)
            elif state == _ARRAY_NEXT:
                if char == ",":
                    self._state = _ARRAY_VALUE
                elif char == "]":
                    self._close()
                else:
                    raise _Invalid(pos, "expected ',' or ']' after an array element")
                pos += 1
            elif state == _OBJECT_NEXT:
                if char == ",":
                    self._state = _OBJECT_KEY
                elif char == "}":
                    self._close()
                else:
                    raise _Invalid(pos, "expected ',' or '}' after an object member")
                pos += 1
            elif state == _COLON:
                if char != ":":
                    raise _Invalid(pos, "expected ':' after an object key")
                self._state = _OBJECT_VALUE
                pos += 1
            elif state in (_OBJECT_FIRST, _OBJECT_KEY):
                if char == '"':
                    self._state = _KEY
                    self._chars = []
                elif char == "}" and state == _OBJECT_FIRST:
                    self._close()
                else:
                    raise _Invalid(pos, "expected a string key")
                pos += 1
            else:  # _END
                raise _Invalid(pos, "expected nothing after the JSON value")

    def _put(self, value: Any) -> None:
        """A value is complete: into the open container (or the root), and expect what follows it."""
        stack = self._stack
        if not stack:
            self._root = value
            self._state = _END
            return
        container = stack[-1]
        if type(container) is list:
            container.append(value)
            self._state = _ARRAY_NEXT
        else:
            container[self._key] = value
            self._state = _OBJECT_NEXT

    def _close(self) -> None:
        stack = self._stack
        stack.pop()
        if not stack:
            self._state = _END
        else:
            self._state = _ARRAY_NEXT if type(stack[-1]) is list else _OBJECT_NEXT

    def _value(self, text: str, pos: int) -> int:
        """A value starts at ``pos``: read what of it the text holds; return where reading stopped."""
        end = len(text)
        if end - pos >= _FAST_MIN:
            found = self._scan(text, pos)
            if found >= 0:
                return found
        char = text[pos]
        if char == '"':
            self._state = _STRING
            self._chars = []
            return pos + 1
        if char == "{" or char == "[":
            stack = self._stack
            if len(stack) >= self._max_depth:
                raise _Invalid(pos, f"containers nest deeper than max_depth ({self._max_depth})")
            container: Any = {} if char == "{" else []
            if stack:
                parent = stack[-1]
                if type(parent) is list:
                    parent.append(container)
                else:
                    parent[self._key] = container
            else:
                self._root = container
            stack.append(container)
            self._state = _OBJECT_FIRST if char == "{" else _ARRAY_FIRST
            return pos + 1
        if char in _NUMBER_FIRST:
            stop = _NUMBER_START.match(text, pos).end()  # type: ignore[union-attr]  # "-?" matches
            if stop == end:
                self._carry = text[pos:]  # the next piece may go on with it
                return end
            if _NUMBER.fullmatch(text, pos, stop) is None:
                raise _Invalid(stop, "invalid number")
            self._put(_number(text[pos:stop]))
            return stop
        literal = _LITERALS.get(char)
        if literal is not None:
            word, meaning = literal
            if text.startswith(word, pos):
                self._put(meaning)
                return pos + len(word)
            cut = text[pos : pos + len(word)]
            if len(cut) < len(word) and word.startswith(cut):
                self._carry = cut  # "tr" at the end of the piece
                return end
            good = 0
            while cut[good] == word[good]:
                good += 1
            raise _Invalid(pos + good, f"invalid literal (expected {word!r})")
        raise _Invalid(pos, "expected a JSON value")

    def _scan(self, text: str, pos: int) -> int:
        """Read a whole value at ``pos`` with the C scanner: where it ends, or -1 when it cannot.

        It cannot when the value is cut by the end of the piece, is not JSON, nests past
        ``max_depth``, or holds an integer past Python's digit limit; the loop here then reads it
        (and reports what is wrong), so both paths give the same answer.
        """
        try:
            value, stop = _scan(text, pos)
        except (StopIteration, ValueError, RecursionError):
            return -1
        if (type(value) is int or type(value) is float) and (
            stop == len(text) or _NUMBER_START.match(text, pos).end() != stop  # type: ignore[union-attr]
        ):
            # A number the next piece may go on with ("12" then "34"), or one the scanner read short
            # of what follows ("3.14e" cut by the piece, or "1.x"): the loop carries or refuses it,
            # so the answer and the error do not depend on the cuts.
            return -1
        room = self._max_depth - len(self._stack)
        # Cheap bound first (every bracket nesting), the exact depth only when it is not enough.
        if (
            (type(value) is dict or type(value) is list)
            and text.count("[", pos, stop) + text.count("{", pos, stop) > room
            and _depth(value, room) > room
        ):
            return -1
        self._put(value)
        return stop

    def _string(self, text: str, pos: int) -> int:
        """Inside a string (a value or a key): read its body on from ``pos``."""
        end = len(text)
        chars = self._chars
        while True:
            stop = _BODY.match(text, pos).end()  # type: ignore[union-attr]  # * matches
            if stop > pos:
                chars.append(text[pos:stop])
            if stop == end:
                return end
            char = text[stop]
            if char == '"':
                string = "".join(chars)
                self._chars = []
                if self._state == _KEY:
                    self._key = string
                    self._state = _COLON
                else:
                    self._put(string)
                return stop + 1
            if char != "\\":
                raise _Invalid(stop, "unescaped control character in a string")
            pos = self._escape(text, stop, chars)
            if pos == end:
                return end

    def _escape(self, text: str, pos: int, chars: list[str]) -> int:
        """An escape at ``pos``: decode it into ``chars``, or carry it when the piece cuts it."""
        end = len(text)
        match = _ESCAPE.match(text, pos)
        if match is None:
            stop = _ESCAPE_START.match(text, pos).end()  # type: ignore[union-attr]  # "\\" matches
            if stop == end:
                self._carry = text[pos:]
                return end
            raise _Invalid(stop, "invalid escape in a string")
        simple = match.group(1)
        if simple is not None:
            chars.append(_SIMPLE_ESCAPES[simple])
            return match.end()
        code = int(match.group(2), 16)
        stop = match.end()
        if 0xD800 <= code <= 0xDBFF:  # a high surrogate: half of a pair when a low one follows
            low = _LOW_SURROGATE.match(text, stop)
            if low is not None:
                chars.append(chr(0x10000 + ((code - 0xD800) << 10) + int(low.group(1), 16) - 0xDC00))
                return low.end()
            follows = _LOW_SURROGATE_START.match(text, stop).end()  # type: ignore[union-attr]  # ? matches
            if follows == end:
                self._carry = text[pos:]  # the low half may open the next piece
                return end
            # Lone: json.loads keeps it (module docstring), and so does the final answer. Unless
            # the character that rules a pair out is not JSON itself (a raw control character,
            # "\x", "\ud8g"): then the text stopped being JSON while the pair was still possible,
            # and the surrogate stays held back, as in the longest prefix that was JSON.
            if follows == stop:
                if text[stop] < " ":
                    raise _Invalid(stop, "unescaped control character in a string")
            elif _ESCAPE_START.match(text, stop).end() <= follows:  # type: ignore[union-attr]
                raise _Invalid(follows, "invalid escape in a string")
        chars.append(chr(code))
        return stop
