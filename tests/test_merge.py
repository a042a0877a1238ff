"""The merge rule for values that are not text, and the check of every value kept as it came."""

from __future__ import annotations

from typing import Any

import pytest

from chunkwise._merge import MAX_INT_DIGITS, Unsafe, merge_into, safe_json
from chunkwise._text import Tally


def test_mappings_merge_key_by_key_and_empty_values_never_erase() -> None:
    """Groq x_groq sends id then usage; a later null or "" keeps the signature an earlier chunk sent."""
    held: dict[str, Any] = {}
    merge_into(held, {"x": {"id": "a"}, "sig": "s1"}, 8, Tally())
    merge_into(held, {"x": {"usage": {"n": 1}}, "sig": None}, 8, Tally())
    merge_into(held, {"sig": ""}, 8, Tally())
    assert held == {"x": {"id": "a", "usage": {"n": 1}}, "sig": "s1"}
    merge_into(held, {"sig": "s2"}, 8, Tally())
    assert held["sig"] == "s2"


def test_kept_values_are_copies() -> None:
    """A caller's lists and mappings are copied, never aliased."""
    source = {"a": [1, {"b": 2}]}
    held: dict[str, Any] = {}
    merge_into(held, source, 8, Tally())
    source["a"][1]["b"] = 3  # type: ignore[index]
    assert held == {"a": [1, {"b": 2}]}


@pytest.mark.parametrize(
    "value",
    [{1: "int key"}, {"s": {1}}, float("nan"), float("inf"), 10 ** (MAX_INT_DIGITS + 1), object(), b"bytes"],
    ids=["int key", "set", "nan", "inf", "huge int", "object", "bytes"],
)
def test_values_that_cannot_be_json_are_unsafe(value: Any) -> None:
    """Whatever could not be dumped later is refused now."""
    with pytest.raises(Unsafe):
        safe_json({"v": value}, 8, Tally())


def test_depth_is_bounded_and_cycles_are_caught() -> None:
    """Nesting past the limit (and a cycle, which is infinitely deep) is refused."""
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(Unsafe, match="max_depth"):
        safe_json(cycle, 64, Tally())
    assert safe_json([[[1]]], 3, Tally()) == [[[1]]]
    with pytest.raises(Unsafe):
        safe_json([[[1]]], 2, Tally())


def test_surrogates_in_keys_and_strings_are_replaced_and_counted() -> None:
    """Lone surrogates become U+FFFD in keys and values; tuples from other clients' dumps become lists."""
    tally = Tally()
    assert safe_json({"k\ud800": ("v\udc00", 1.5, True, None)}, 4, tally) == {
        "k\ufffd": ["v\ufffd", 1.5, True, None]
    }
    assert tally.replaced == 2


def test_every_integer_of_4300_digits_is_kept_and_one_more_digit_is_refused() -> None:
    """The bit-length shortcut decides only where it is exact (10**4300 - 1 has 14285 bits)."""
    from chunkwise._merge import Unsafe, safe_json
    from chunkwise._text import Tally

    for value in (10**4300 - 1, 2**14284, -(10**4300 - 1)):
        assert safe_json({"n": value}, 4, Tally()) == {"n": value}
    with pytest.raises(Unsafe):
        safe_json(10**4300, 4, Tally())
