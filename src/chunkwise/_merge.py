"""The one merge rule for values that are not text, and the one check for values kept as they came.

Text (content, reasoning, refusal, tool arguments, audio data) is appended by the choice rules, each
with its own rule. Everything else that can arrive on more than one chunk (Gemini's
``extra_content``, Azure ``content_filter_results``, Groq ``x_groq``, Perplexity ``citations``, ...)
is state the server restates, not text it streams, so it is never concatenated (behaviour.md §6):

* mappings merge key by key, recursively (``x_groq`` sends ``id`` first and ``usage`` last);
* ``None`` and ``""`` never erase a value already held (a Gemini chunk without a signature must
  not drop the signature an earlier chunk carried);
* any other value replaces the old one: the last non-empty value wins, so a repeated identical
  signature is not doubled and a new one replaces the old.

Every value kept this way passes ``safe_json`` on its way in (behaviour.md §11): whatever is
accepted can later be dumped, snapshotted and sent back. It must be JSON (mappings with string
keys, lists, strings, booleans, ``None``, finite floats, integers of at most ``MAX_INT_DIGITS``
digits), nested at most ``depth`` levels, and its strings valid Unicode (lone surrogates become
U+FFFD). A caller's mapping may hold a cycle, a tuple key or a ``set``; a server's JSON may nest
a thousand levels, which ``json.loads`` accepts but pydantic's serializer (about 250 levels) and
``RecursionError`` do not. Such a value raises ``Unsafe`` here, where it enters, and the assembler
reports it as a malformed chunk. The copy also means a caller's chunks are never aliased.
"""

from __future__ import annotations

from typing import Any

from ._text import Tally, clean

__all__ = ["MAX_INT_DIGITS", "Unsafe", "copy_json", "merge_into", "safe_json"]

#: Python converts integers of more than 4300 digits to text only on request
#: (``sys.set_int_max_str_digits``), so a larger one would make every dump raise.
MAX_INT_DIGITS = 4300
# Every integer of at most this many bits has at most 4300 digits (bit_length is cheap, str() is
# not); above it, the exact bound decides (10**4300 - 1 has 14285 bits, as do some larger numbers).
_MAX_INT_BITS = int(MAX_INT_DIGITS * 3.3219)
_TOO_BIG = 10**MAX_INT_DIGITS


class Unsafe(ValueError):
    """A value that cannot be kept as JSON: the message says why."""


def safe_json(value: Any, depth: int, tally: Tally) -> Any:
    """A checked deep copy of a JSON value (see the module docstring); raises ``Unsafe``."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else clean(value, tally)
    if kind is dict or kind is list:
        if depth <= 0:
            raise Unsafe("a value is nested deeper than the nesting limit (max_depth)")
        if kind is list:
            return [safe_json(v, depth - 1, tally) for v in value]
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise Unsafe(f"a mapping key is a {type(key).__name__}, not a string")
            if not key.isascii():
                key = clean(key, tally)
            kind = type(item)
            # Most members are ASCII text, small integers or null: taken here without a call
            # (a usage object is a dozen of them on every chunk of some servers).
            if (
                (kind is str and item.isascii())
                or item is None
                or kind is bool
                or (kind is int and item.bit_length() <= _MAX_INT_BITS)
            ):
                out[key] = item
            else:
                out[key] = safe_json(item, depth - 1, tally)
        return out
    if value is None or kind is bool:
        return value
    if kind is int:
        if value.bit_length() > _MAX_INT_BITS and abs(value) >= _TOO_BIG:
            raise Unsafe(f"an integer has more than {MAX_INT_DIGITS} digits")
        return value
    if kind is float:
        if value - value != 0:  # inf or nan: not JSON
            raise Unsafe(f"{value} is not a JSON number")
        return value
    if isinstance(value, (dict, list, tuple)):  # a subclass or a tuple from another client's dump
        return safe_json(dict(value) if isinstance(value, dict) else list(value), depth, tally)
    raise Unsafe(f"a {kind.__name__} is not a JSON value")


def merge_into(target: dict[str, Any], source: dict[str, Any], depth: int, tally: Tally) -> None:
    """Merge ``source`` into ``target`` by the rule above, checking what is kept; raises ``Unsafe``.

    ``depth`` bounds the nesting of each value of ``source`` (``source`` itself is not counted).
    """
    for key, value in source.items():
        if type(key) is not str:
            raise Unsafe(f"a mapping key is a {type(key).__name__}, not a string")
        if not key.isascii():
            key = clean(key, tally)
        if value is None or (type(value) is str and not value):
            if key not in target:
                target[key] = value
            continue
        if type(value) is dict:
            if depth <= 0:
                raise Unsafe("a value is nested deeper than the nesting limit (max_depth)")
            held = target.get(key)
            if type(held) is not dict:
                held = target[key] = {}
            merge_into(held, value, depth - 1, tally)
        else:
            target[key] = safe_json(value, depth, tally)


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data already checked by ``safe_json`` (dicts, lists, scalars):
    ``copy.deepcopy`` without its memo, several times faster on the nested dicts servers send."""
    if type(value) is dict:
        return {k: copy_json(v) if type(v) is dict or type(v) is list else v for k, v in value.items()}
    if type(value) is list:
        return [copy_json(v) if type(v) is dict or type(v) is list else v for v in value]
    return value
