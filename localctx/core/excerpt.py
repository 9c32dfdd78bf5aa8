"""The passage of the documents that best matches a question, to restate next to the question.

Small models lose facts that sit thousands of tokens back: they answer with a plausible number instead
of the one in the document.  Restating the one passage that shares the question's rarest words right
beside the question puts the fact where the model attends most, without touching the documents
themselves (their tokens stay a prefix shared by every question, so KV reuse and saved states hold).

Matching is lexical (BM25 over lines and sentences), deterministic and cheap: the same documents and
question always give the same passage, so an earlier turn renders to the same tokens on every later
turn.  A question that shares fewer than two words with the best passage (or one word that other
passages have too) gets no passage: a wrong passage next to the question misleads more than none.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

#: longest passage restated (characters): at most about 100 tokens even of digits and symbols, inside
#: the room a conversation keeps free for the question (core.conversation.QUESTION_ROOM)
MAX_CHARS = 200

_WORD = re.compile(r"[^\W_]+(?:[-'.,][^\W_]+)*")  # letters of any script and digits
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
#: a full stop that ends a title or an initial, not a sentence ("Dr. Ines Calloway", "J. Smith")
_NOT_AN_END = re.compile(r"(?:\b(?:Dr|Mr|Mrs|Ms|Prof|St|Mt|No|Fig|vs|etc|e\.g|i\.e)|\b[A-Z])\.$")
_STOP = frozenset("""a about above after all also am an and any are as at be been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here hers him
his how i if in into is it its itself just me more most my no nor not now of off on once only or other our out
over own same she should so some such than that the their them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your
many much tell give name named called document documents say says""".split())


@dataclass(frozen=True)
class _Index:
    passages: tuple[str, ...]
    terms: tuple[Counter[str], ...]
    df: Counter[str]
    avg_len: float


def words(text: str) -> list[str]:
    """Lower-case words of any script, numbers kept whole ("14,500", "k-901", "ed25519", "münchen")."""
    return _WORD.findall(text.lower())


def _term(word: str) -> str:
    """A word without a possessive or plural ending, so "dog's" and "dogs" match "dog"."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and word.isalpha():
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    """The words that can make a match: no stop words, endings folded (``_term``)."""
    return [_term(w) for w in words(text) if w not in _STOP]


def split_passages(text: str) -> list[str]:
    """Lines, and long lines cut into sentences; a table row keeps its table's first row (the header)
    in front, since a row of bare numbers does not say which column is the price."""
    out: list[str] = []
    header: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            header = None
            continue
        if line.startswith("|"):
            if set(line) <= set("|-: "):
                continue  # a Markdown table's rule line
            if header is None:
                header = line
                out.append(line)
            else:
                out.append(f"{header}\n{line}")
            continue
        header = None
        out += _sentences(line)
    return out


def _sentences(line: str) -> list[str]:
    parts: list[str] = []
    for piece in _SENTENCE_END.split(line):
        if parts and _NOT_AN_END.search(parts[-1]):
            parts[-1] = f"{parts[-1]} {piece}"
        elif piece.strip():
            parts.append(piece)
    return parts


@lru_cache(maxsize=4)
def _index(text: str) -> _Index:
    passages = tuple(split_passages(text))
    counts = tuple(Counter(terms(p)) for p in passages)
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    avg = sum(sum(c.values()) for c in counts) / len(counts) if counts else 1.0
    return _Index(passages, counts, df, avg or 1.0)


def best_passage(text: str, question: str, *, max_chars: int = MAX_CHARS) -> str | None:
    """The passage of ``text`` that best matches ``question`` (BM25, k1 1.2, b 0.75), cut to
    ``max_chars``; None when the best one shares too little with the question to be trusted."""
    wanted = set(terms(question))
    if not wanted or not text:
        return None
    idx = _index(text)
    n = len(idx.passages)
    best, best_score, best_words = -1, 0.0, set()
    for i, tf in enumerate(idx.terms):
        length = sum(tf.values())
        score = 0.0
        shared = wanted & tf.keys()
        for w in shared:
            idf = math.log(1 + (n - idx.df[w] + 0.5) / (idx.df[w] + 0.5))
            f = tf[w]
            score += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * length / idx.avg_len))
        if score > best_score:
            best, best_score, best_words = i, score, shared
    if best < 0 or not _trusted(best_words, idx.df):
        return None
    return _cut(idx.passages[best], max_chars)


def _trusted(shared: set[str], df: Counter[str]) -> bool:
    """Two words in common, or one word found in no other passage ("turnbuckle" in a price list)."""
    return len(shared) >= 2 or (len(shared) == 1 and df[next(iter(shared))] == 1)


def _cut(passage: str, max_chars: int) -> str:
    if len(passage) <= max_chars:
        return passage
    cut = passage[:max_chars].rsplit(" ", 1)[0]
    return cut + " …"
