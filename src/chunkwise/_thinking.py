"""Incremental splitting of ``<tag>thinking</tag>`` text out of streamed content.

Vertex with ``extra_body.google.thought_tag_marker = "think"`` puts thoughts inside ``content`` as
``<think>...</think>`` (several blocks may follow each other); the Gemini API with
``include_thoughts`` opens content with one ``<thought>...</thought>`` block. DeepSeek-R1 served by
Together or vLLM does the same with ``<think>``. The tag can be cut anywhere between chunks
(``"<thi"`` + ``"nk>"``), so the splitter holds back only the longest tail that could still
begin the tag it is looking for, and releases it when the next piece (or ``flush``) decides.

Invariant (tested as a property): the concatenation of every segment, tags included, is exactly
the text fed, in order, however the text was cut.
"""

from __future__ import annotations

import re

__all__ = ["ANSWER", "TAG", "THINKING", "ThinkTagSplitter", "is_tag_name"]

ANSWER = 0
THINKING = 1
TAG = 2

Segment = tuple[int, str]

# What can stand between "<" and ">" as a tag's name: no space (a marker " think" or "think\n"
# would never match what the model writes), no "/", "<" or ">" (they would end or nest the tag).
_TAG_NAME = re.compile(r"[^\s</>]+")


def is_tag_name(value: object) -> bool:
    """Whether ``value`` can be a thought tag's name (``think``, ``thought``): the one rule for the
    assembler's ``thought_tag``, the strategies' and ``chunkwise.gemini``'s."""
    return isinstance(value, str) and _TAG_NAME.fullmatch(value) is not None


class ThinkTagSplitter:
    """Feed content pieces; get ``(kind, text)`` segments with kind ANSWER, THINKING or TAG."""

    __slots__ = ("_close", "_open", "held", "inside", "lead")

    def __init__(self, tag: str, opened: bool = False) -> None:
        self._open = f"<{tag}>"
        self._close = f"</{tag}>"
        #: A tail that may be the start of the tag looked for (shorter than the tag), not yet given out.
        self.held = ""
        #: True while inside a thinking block. ``opened``: the text begins inside one, its opening
        #: tag sent in the prompt (a chat template that opens `<think>` for the model).
        self.inside = opened
        #: Opened, and nothing fed yet: an opening tag that begins the text (the model wrote it
        #: anyway) is that block's tag, not thinking text.
        self.lead = opened

    def feed(self, text: str) -> list[Segment]:
        if self.lead:
            text = self.held + text
            self.held = ""
            if text.startswith(self._open):
                self.lead = False
                return [(TAG, self._open), *self.feed(text[len(self._open) :])]
            if self._open.startswith(text):
                self.held = text  # "<thi": the opening tag may still come whole
                return []
            self.lead = False
        if self.held:
            text = self.held + text  # bounded by the tag's length: no growing buffer
            self.held = ""
        elif "<" not in text:
            # Fast path: no tag can start in this piece.
            return [(THINKING if self.inside else ANSWER, text)] if text else []
        out: list[Segment] = []
        pos = 0
        while True:
            tag = self._close if self.inside else self._open
            i = text.find(tag, pos)
            if i < 0:
                break
            if i > pos:
                out.append((THINKING if self.inside else ANSWER, text[pos:i]))
            out.append((TAG, tag))
            self.inside = not self.inside
            pos = i + len(tag)
        end = len(text)
        keep = self._tail_to_hold(text, pos, tag)
        if end - keep > pos:
            out.append((THINKING if self.inside else ANSWER, text[pos : end - keep]))
        if keep:
            self.held = text[end - keep :]
        return out

    def flush(self) -> list[Segment]:
        """End of the content: what was held back is plain text after all (``"5 <"`` keeps its ``<``)."""
        held, self.held = self.held, ""
        return [(THINKING if self.inside else ANSWER, held)] if held else []

    @staticmethod
    def _tail_to_hold(text: str, pos: int, tag: str) -> int:
        """Length of the longest suffix of ``text[pos:]`` that is a proper prefix of ``tag``."""
        limit = min(len(tag) - 1, len(text) - pos)
        if limit <= 0 or "<" not in text[-limit:]:
            return 0
        for k in range(limit, 0, -1):
            if text.endswith(tag[:k]):
                return k
        return 0
