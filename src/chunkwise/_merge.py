"""The one merge rule for values that are not text: ``extra_content`` and fields we do not know.

Text (content, reasoning, refusal, tool arguments, audio data) is appended by the assembler with
its own per-field rule. Everything else that can arrive on more than one chunk (Gemini's
``extra_content``, Azure ``content_filter_results``, Groq ``x_groq``, Perplexity ``citations``, ...)
is state the server restates, not text it streams, so it is never concatenated:

* mappings merge key by key, recursively (``x_groq`` sends ``id`` first and ``usage`` last);
* ``None`` and ``""`` never erase a value already held (a Gemini chunk without a signature must
  not drop the signature an earlier chunk carried);
* any other value replaces the old one: the last non-empty value wins, so a repeated identical
  signature is not doubled and a new one replaces the old (SPEC 6).

Mappings are copied as they are merged, so the caller's chunks are never aliased or mutated.
"""

from __future__ import annotations

from typing import Any

__all__ = ["copy_json", "merge_into"]


def merge_into(target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """Merge ``source`` into ``target`` by the rule above; return ``target``."""
    for key, value in source.items():
        if value is None or value == "":
            if key not in target:
                target[key] = value
            continue
        if isinstance(value, dict):
            held = target.get(key)
            if isinstance(held, dict):
                merge_into(held, value)
            else:
                target[key] = merge_into({}, value)
        else:
            target[key] = value
    return target


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): ``copy.deepcopy`` without its memo,
    several times faster on the nested dicts servers send (usage details, extra_content)."""
    if type(value) is dict:
        return {k: copy_json(v) if type(v) is dict or type(v) is list else v for k, v in value.items()}
    if type(value) is list:
        return [copy_json(v) if type(v) is dict or type(v) is list else v for v in value]
    return value
