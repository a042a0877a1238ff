"""The fields of a choice that are neither its text nor its calls, each with its own small state.

* ``Logprobs``: ``choices[].logprobs``; the token lists ``content`` and ``refusal`` are concatenated
  in order, a ``null`` list stays null, other keys follow ``_merge`` (§3).
* ``AudioOut``: ``delta.audio``, also Gemini's image output; ``data`` (base64) and ``transcript``
  are appended, ``id`` and ``expires_at`` set once: never concatenated, never summed (§7).
* ``ReasoningDetails``: OpenRouter's ``reasoning_details`` entries, kept in order; the pieces of
  one entry (same ``type`` and ``index``) merge, their ``text``/``summary`` appended. Behind that
  gateway they carry Gemini's signatures as ``reasoning.encrypted`` entries (§3).

Each checks its input and raises ``Malformed``; ``_build`` reads what they hold.
"""

from __future__ import annotations

from typing import Any

from ._limits import Limits, keep, merge, small_int, string_field
from ._payloads import Malformed
from ._text import Pieces

__all__ = ["AudioOut", "Detail", "Logprobs", "ReasoningDetails"]

_AUDIO_KNOWN = frozenset(("id", "data", "expires_at", "transcript", "extra_content"))
# OpenRouter `reasoning_details` entries stream their text in pieces under one (type, index).
_DETAIL_TEXT_FIELDS = frozenset(("text", "summary"))


class Logprobs:
    """``choices[].logprobs`` of one choice."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held: dict[str, Any] = {}

    @staticmethod
    def brings_tokens(logprobs: Any) -> bool:
        """Whether ``logprobs`` carries tokens (more of the answer), not only metadata."""
        return type(logprobs) is dict and bool(logprobs.get("content") or logprobs.get("refusal"))

    def apply(self, logprobs: Any, limits: Limits) -> None:
        if type(logprobs) is not dict:
            raise Malformed("`logprobs` must be an object")
        held = self.held
        for key, value in logprobs.items():
            if key in ("content", "refusal"):
                if value is None:
                    held.setdefault(key, None)
                    continue
                if type(value) is not list:
                    raise Malformed(f"`logprobs.{key}` must be a list")
                tokens = held.get(key)
                if tokens is None:
                    held[key] = keep(value, limits)
                else:
                    tokens.extend(keep(value, limits))
            else:
                merge(held, {key: value}, limits)


class AudioOut:
    """``delta.audio`` of one choice (audio output, and Gemini image output)."""

    __slots__ = ("data", "expires_at", "extra", "extra_content", "id", "transcript")

    def __init__(self) -> None:
        self.id: str | None = None
        self.expires_at: int | None = None
        self.data: Pieces | None = None
        self.transcript: Pieces | None = None
        self.extra_content: dict[str, Any] | None = None
        self.extra: dict[str, Any] | None = None

    @staticmethod
    def brings_media(audio: Any) -> bool:
        """Whether ``audio`` carries data or transcript (more of the answer), not only metadata."""
        return type(audio) is dict and bool(audio.get("data") or audio.get("transcript"))

    def apply(self, audio: Any, limits: Limits) -> None:
        if type(audio) is not dict:
            raise Malformed("`delta.audio` must be an object")
        for key in ("data", "transcript"):
            value = audio.get(key)
            if value is not None:
                if type(value) is not str:
                    raise Malformed(f"`delta.audio.{key}` must be a string")
                pieces = getattr(self, key)
                if pieces is None:
                    pieces = Pieces()
                    setattr(self, key, pieces)
                pieces.add(value, limits.tally)
        audio_id = audio.get("id")
        if audio_id is not None and audio_id != "" and self.id is None:
            self.id = string_field(audio_id, "delta.audio.id", limits)
        expires = audio.get("expires_at")
        if expires is not None and self.expires_at is None:
            if not small_int(expires):
                raise Malformed("`delta.audio.expires_at` must be an integer")
            self.expires_at = expires
        extra_content = audio.get("extra_content")
        if extra_content is not None:
            if type(extra_content) is not dict:
                raise Malformed("`delta.audio.extra_content` must be an object")
            if self.extra_content is None:
                self.extra_content = {}
            merge(self.extra_content, extra_content, limits, whole=True)
        if not _AUDIO_KNOWN.issuperset(audio):
            if self.extra is None:
                self.extra = {}
            merge(self.extra, {k: v for k, v in audio.items() if k not in _AUDIO_KNOWN}, limits)

    def end(self, limits: Limits) -> None:
        for pieces in (self.data, self.transcript):
            if pieces is not None:
                pieces.flush(limits.tally)


class Detail:
    """One OpenRouter ``reasoning_details`` entry; its text fields arrive in pieces."""

    __slots__ = ("fields", "pieces")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.pieces: dict[str, Pieces] = {}


class ReasoningDetails:
    """``delta.reasoning_details`` of one choice, in order."""

    __slots__ = ("by_key", "entries")

    def __init__(self) -> None:
        #: A ``Detail`` for each entry that has an ``index``, any other entry as it came.
        self.entries: list[Detail | Any] = []
        self.by_key: dict[tuple[Any, Any], Detail] = {}

    @staticmethod
    def thinking(details: Any) -> list[str]:
        """The text of ``reasoning.text`` entries: thinking, for servers that send no other
        (Snowflake Cortex, Anthropic models behind OpenRouter; §10)."""
        if type(details) is not list:
            return []
        texts = []
        for entry in details:
            if type(entry) is dict and entry.get("type") == "reasoning.text":
                text = entry.get("text")
                if type(text) is str and text:
                    texts.append(text)
        return texts

    def apply(self, details: Any, limits: Limits) -> None:
        if type(details) is not list:
            raise Malformed("`delta.reasoning_details` must be a list")
        for entry in details:
            if type(entry) is not dict or "index" not in entry:
                self.entries.append(keep(entry, limits))
                continue
            key = (entry.get("type"), entry.get("index"))
            try:
                detail = self.by_key.get(key)
            except TypeError:  # an unhashable index: keep the entry as it came
                self.entries.append(keep(entry, limits))
                continue
            entry_id = entry.get("id")
            if detail is not None and entry_id and type(entry_id) is str:
                held = detail.fields.get("id")
                if held and held != entry_id:
                    # Another entry that shares (type, index): its own id says so. Merging it
                    # would lose the first's signature (two encrypted parts, both at index 0).
                    detail = None
            if detail is None:
                detail = self.by_key[key] = Detail()
                self.entries.append(detail)
            for name, value in entry.items():
                if name in _DETAIL_TEXT_FIELDS and type(value) is str:
                    pieces = detail.pieces.get(name)
                    if pieces is None:
                        pieces = detail.pieces[name] = Pieces()
                    pieces.add(value, limits.tally)
                else:
                    merge(detail.fields, {name: value}, limits)
