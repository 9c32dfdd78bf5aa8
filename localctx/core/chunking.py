"""Token-budgeted chunking that cuts where a reader would: headings, then paragraphs, then sentences.

Pure: the model's tokenizer comes in as two functions, so tests run it with the real vocabulary and
nothing here imports llama.cpp.  The document is tokenized ONCE as a whole and chunks are slices of
that one token list, so every token of the input lies in exactly one chunk and a chunk's size is
exact (re-tokenizing pieces separately would shift tokens at the seams and break both promises).

A cut is only allowed where the token stream and the text agree on a boundary: tokens are aligned
to character offsets by decoding them in small groups (a multi-byte character split over two tokens
keeps its tokens together), and each aligned position is ranked by the whitespace around it.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Tokenize = Callable[[str], Sequence[int]]
Detokenize = Callable[[Sequence[int]], str]

#: cut strengths, strongest first (what ends a chunk)
HEADING, PARAGRAPH, SENTENCE, WORD, FORCED = 4, 3, 2, 1, 0
CUT_NAMES = {HEADING: "heading", PARAGRAPH: "paragraph", SENTENCE: "sentence", WORD: "word", FORCED: "forced"}

_MAX_GROUP = 64  # tokens decoded together before we declare the tokenizer unalignable
_SENTENCE_END = ".!?…"
_CLOSERS = "\"')]}’”»*_"
_KEYWORD_HEAD = re.compile(
    r"(chapter|part|book|section|volume|act|scene|appendix|prologue|epilogue|introduction|preface)\b",
    re.IGNORECASE,
)
_MD_HEAD = re.compile(r"#{1,6}\s")
_SETEXT = re.compile(r"(=+|-+)\s*")


@dataclass(frozen=True)
class TokenizedText:
    """A text, its tokens (tokenized once, whole), and the token indexes where a cut is possible."""

    text: str
    tokens: tuple[int, ...]
    #: (token index, char offset) pairs where token and character streams agree, ascending;
    #: always starts with (0, 0) and ends with (len(tokens), len(text))
    boundaries: tuple[tuple[int, int], ...]

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class Chunk:
    """tokens[token_start:token_end] of the document, which decode to text[char_start:char_end]."""

    index: int
    token_start: int
    token_end: int
    char_start: int
    char_end: int
    cut: str  # what ends this chunk: heading | paragraph | sentence | word | forced | end

    @property
    def n_tokens(self) -> int:
        return self.token_end - self.token_start

    def text(self, doc: TokenizedText) -> str:
        return doc.text[self.char_start : self.char_end]

    def tokens(self, doc: TokenizedText) -> tuple[int, ...]:
        return doc.tokens[self.token_start : self.token_end]


def tokenize_text(text: str, tokenize: Tokenize, detokenize: Detokenize) -> TokenizedText:
    """Tokenize ``text`` whole and find where tokens line up with characters."""
    tokens = tuple(tokenize(text))
    return TokenizedText(text, tokens, tuple(align(text, tokens, detokenize)))


def align(text: str, tokens: Sequence[int], detokenize: Detokenize) -> list[tuple[int, int]]:
    """(token index, char offset) pairs at which a cut between tokens is also a cut in ``text``.

    Tokens are decoded in the smallest groups that reproduce the text exactly; a group ends only
    where the next token decodes on its own (so a token holding half of a UTF-8 character never
    ends a group).  Tokenizers that drop or add one leading space on decode are tolerated.
    """
    out = [(0, 0)]
    n = len(tokens)
    clean = [_clean_piece(detokenize([t])) for t in tokens]
    pos, start = 0, 0
    while start < n:
        matched = False
        for end in range(start + 1, min(n, start + _MAX_GROUP) + 1):
            if end < n and not clean[end]:
                continue  # the next token continues a character: keep going
            consumed = _consume(text, pos, detokenize(tokens[start:end]))
            if consumed is not None:
                pos += consumed
                out.append((end, pos))
                start, matched = end, True
                break
        if not matched:
            raise ValueError(f"tokens {start}..{start + _MAX_GROUP} do not decode to the text at offset {pos}")
    if pos != len(text):
        if text[pos:].strip():
            raise ValueError(f"tokens decode to {pos} of {len(text)} characters")
        out[-1] = (n, len(text))  # trailing whitespace the tokenizer dropped belongs to the last token
    return out


def _clean_piece(s: str) -> bool:
    """A token that starts on a character boundary (it may end inside one)."""
    return bool(s) and s[0] != "\ufffd"


def _consume(text: str, pos: int, piece: str) -> int | None:
    """Characters of ``text`` at ``pos`` that ``piece`` stands for, or None if it does not match."""
    if not piece or "\ufffd" in piece:
        return None
    if text.startswith(piece, pos):
        return len(piece)
    if text.startswith(" " + piece, pos):  # decoder stripped a leading space
        return len(piece) + 1
    if piece.startswith(" ") and text.startswith(piece[1:], pos) and len(piece) > 1:  # it added one
        return len(piece) - 1
    return None


# ---- ranking cut positions ------------------------------------------------------------------------
def heading_starts(text: str) -> set[int]:
    """Char offsets where a heading line begins: Markdown ``#``, setext, or a short stand-alone line
    such as ``Chapter 3`` / ``PART TWO`` between blank lines (plain-text books)."""
    starts: set[int] = set()
    lines = text.split("\n")
    offs = [0]
    for line in lines:
        offs.append(offs[-1] + len(line) + 1)
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if _MD_HEAD.match(s):
            starts.add(offs[i] + len(line) - len(line.lstrip()))
            continue
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if nxt and _SETEXT.fullmatch(nxt) and len(s) <= 80:
            starts.add(offs[i] + len(line) - len(line.lstrip()))
            continue
        prev_blank = i == 0 or not lines[i - 1].strip()
        next_blank = i + 1 >= len(lines) or not nxt
        if prev_blank and next_blank and len(s) <= 60 and s[-1] not in ".,;:!?\"'”’":
            if _KEYWORD_HEAD.match(s) or (any(c.isalpha() for c in s) and s.upper() == s):
                starts.add(offs[i] + len(line) - len(line.lstrip()))
    return starts


def cut_strength(text: str, pos: int, headings: set[int]) -> int:
    """How good a place ``pos`` is to end a chunk, from the whitespace run that touches it."""
    lo, hi = pos, pos
    while lo > 0 and text[lo - 1].isspace():
        lo -= 1
    while hi < len(text) and text[hi].isspace():
        hi += 1
    if lo == hi:
        return FORCED  # inside a word (or between a word and its punctuation)
    gap = text[lo:hi]
    newlines = gap.count("\n")
    if newlines and hi in headings:
        return HEADING
    if newlines >= 2:
        return PARAGRAPH
    j = lo
    while j > 0 and text[j - 1] in _CLOSERS:
        j -= 1
    if j > 0 and text[j - 1] in _SENTENCE_END:
        return SENTENCE
    return WORD


# ---- packing ---------------------------------------------------------------------------------------
def plan_chunks(doc: TokenizedText, budget: int) -> list[Chunk]:
    """Split ``doc`` into chunks of at most ``budget`` tokens, balanced in size, cut at the strongest
    boundary available in the back half of each chunk's window (never mid-word unless a single
    word is longer than the budget)."""
    if budget < 1:
        raise ValueError("chunk budget must be at least one token")
    n = doc.n_tokens
    if n == 0:
        return []
    bidx = [b[0] for b in doc.boundaries]
    headings = heading_starts(doc.text)
    strength_cache: dict[int, int] = {}

    def strength(k: int) -> int:
        if k not in strength_cache:
            strength_cache[k] = cut_strength(doc.text, doc.boundaries[k][1], headings)
        return strength_cache[k]

    chunks: list[Chunk] = []
    k0 = 0  # index into boundaries of the current chunk's start
    while True:
        s = bidx[k0]
        remaining = n - s
        if remaining <= budget:
            chunks.append(Chunk(len(chunks), s, n, doc.boundaries[k0][1], len(doc.text), "end"))
            return chunks
        target = remaining / math.ceil(remaining / budget)
        k_hi = bisect.bisect_right(bidx, s + budget) - 1
        k_lo = max(bisect.bisect_left(bidx, s + max(1, int(target * 0.5))), k0 + 1)
        best = _best_cut(range(k_lo, k_hi + 1), strength, bidx, s + target)
        if best is None or strength(best) < WORD:  # nothing decent in the window: anywhere before it
            wider = _best_cut(range(k0 + 1, k_hi + 1), strength, bidx, s + budget)
            best = wider if wider is not None and (best is None or strength(wider) > strength(best)) else best
        if best is None:
            raise ValueError(f"no token boundary within {budget} tokens after token {s}")
        # cut after the whitespace run, not inside it, so the next chunk starts on its heading/word
        while best < k_hi and strength(best + 1) == strength(best) and doc.text[doc.boundaries[best][1]:
                                                                               doc.boundaries[best + 1][1]].isspace():
            best += 1
        chunks.append(Chunk(len(chunks), s, bidx[best], doc.boundaries[k0][1], doc.boundaries[best][1],
                            CUT_NAMES[strength(best)]))
        k0 = best


def _best_cut(ks: range, strength: Callable[[int], int], bidx: list[int], aim: float) -> int | None:
    best, best_key = None, None
    for k in ks:
        key = (strength(k), -abs(bidx[k] - aim))
        if best_key is None or key > best_key:
            best, best_key = k, key
    return best
