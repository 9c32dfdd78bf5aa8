"""What a summary step asks the model, and what is kept of its answer.

The prompts for the three kinds of step (one pass over a short document, a chunk of a long one, a
merge of summaries), rendered with the model's own chat template, and the clean-up of the reply
(headings and labels a small model copies, a sentence cut by the token cap, repeated loops).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from localctx.engine.base import Engine
from localctx.errors import LocalctxError

if TYPE_CHECKING:
    from localctx.services.summarize import SummarizeOptions

PROMPT_VERSION = 1  # bump when prompts change: old checkpoints then no longer match
_MARKER = "\u2063@@LOCALCTX-TEXT@@\u2063"
_SYSTEM = "You write faithful, concise summaries. Keep names, numbers, dates and key facts. Never invent."
_LABELS = {"summaries", "text", "summary", "combined summary", "combined summary (prose)", "summary of this part"}
MARGIN = 4  # tokens of slack per step (template seams)


# ---- prompts ---------------------------------------------------------------------------------------
def _focus(opts: SummarizeOptions) -> str:
    return f" Focus on: {opts.focus}." if opts.focus else ""


def _words(tokens: int) -> int:
    return max(20, int(tokens * 0.6) // 10 * 10)


def map_instruction(source: str, cap: int, opts: SummarizeOptions) -> tuple[str, str]:
    head = (f"Summarize this part of the document \"{source}\" in at most {_words(cap)} words. "
            f"State its key facts, names and events.{_focus(opts)}\n\nTEXT:\n")
    return head, "\n\n(end of part {part} of {parts})\nSummary of this part:"


def reduce_instruction(source: str, cap: int, opts: SummarizeOptions, final: bool) -> tuple[str, str]:
    what = "one summary of the whole document" if final else "one summary of these consecutive parts"
    head = (f"Below are summaries of consecutive parts of the document \"{source}\", in order. Combine them "
            f"into {what} in at most {_words(cap)} words, written as plain prose paragraphs. Keep every key "
            f"fact, name and number.{_focus(opts)}\n\nSUMMARIES:\n")
    return head, "\n\nCombined summary (prose):"


def single_instruction(source: str, cap: int, opts: SummarizeOptions) -> tuple[str, str]:
    head = (f"Summarize the document \"{source}\" in at most {_words(cap)} words. State its key facts, "
            f"names and events.{_focus(opts)}\n\nTEXT:\n")
    return head, "\n\nSummary:"


class Prompter:
    """Renders (instruction head, text, tail) with the model's chat template as token lists."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def parts(self, head: str, tail: str) -> tuple[list[int], list[int]]:
        msgs = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": head + _MARKER + tail}]
        try:
            rendered = self.engine.format_chat(msgs)
        except LocalctxError:  # templates without a system role
            alone = _SYSTEM + "\n\n" + head + _MARKER + tail
            rendered = self.engine.format_chat([{"role": "user", "content": alone}])
        pre, post = rendered.split(_MARKER, 1)
        pre_t = self.engine.tokenize(pre, add_bos=True, special=True)
        if len(pre_t) >= 2 and pre_t[0] == pre_t[1]:  # template text already held the BOS
            pre_t = pre_t[1:]
        return pre_t, self.engine.tokenize(post, add_bos=False, special=True)


# ---- text clean-up ------------------------------------------------------------------------------------
#: a phrase said three or more times in a row ("the part of the part of the part of ..."): a loop
BACK_TO_BACK = re.compile(r"(\b\w.{8,}?)(?:\s*\1){2,}", flags=re.S)


def clean_summary(text: str, truncated: bool) -> str:
    """Drop a sentence cut off by the token cap, and sentences a small model repeats in a loop."""
    # a small model copies the chunk's Markdown headings and our prompt's labels: drop those lines
    text = "\n".join(line for line in text.strip().splitlines()
                     if not line.lstrip().startswith("#") and line.strip().rstrip(":").lower() not in _LABELS).strip()
    text = re.sub(r"(?m)^(\s*[-*]\s+)#{1,6}\s+", r"\1", text)
    text = re.sub(r"(?<=[^\s.!?:])[ \t]*\n(?=[^\s\-*#\d])", " ", text)  # hard-wrapped lines copied from the source
    # a phrase said three or more times in a row ("the part of the part of the part of ...") is a loop
    looped = BACK_TO_BACK.search(text)
    if looped:
        text, truncated = text[: looped.start() + len(looped.group(1))].rstrip(), True
    if truncated:
        ends = [m.end() for m in re.finditer(r"[.!?…][\"')\]”’*]*(?=\s|$)", text)]
        if ends:
            text = text[: ends[-1]]
    parts = re.split(r"(?<=[.!?])(\s+)", text)  # sentences at even indexes, their separators at odd
    seen: set[str] = set()
    out: list[str] = []
    for i in range(0, len(parts), 2):
        norm = " ".join(parts[i].lower().split())
        if len(norm) > 12 and norm in seen:
            continue
        seen.add(norm)
        out.append(parts[i] + (parts[i + 1] if i + 1 < len(parts) else ""))
    return "".join(out).strip()
