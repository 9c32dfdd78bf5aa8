"""Sampling settings: how the next token is picked, one object for every command, screen and request.

``chat``, ``ask``, ``summarize``, the TUI and the HTTP server all build a ``SamplingSettings`` and the
engine turns it into llama.cpp's sampler chain, so they cannot drift apart.  Field names follow
llama.cpp's flags (``--temp``, ``--top-k``, ``--top-p``, ``--min-p``, ``--repeat-penalty``,
``--repeat-last-n``, ``--dry-*``).  The neutral values below are llama.cpp's own
(``common_params_sampling``) except where a field says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

#: nucleus sampling: keep the smallest set of tokens whose probabilities add up to this
TOP_P = 0.95
#: drop tokens less likely than this fraction of the most likely one
MIN_P = 0.05
#: keep only the k most likely tokens; 0 turns the filter off
TOP_K = 0
#: 1.0 = no penalty (what the engine applies unless a caller asks for one)
NO_REPEAT_PENALTY = 1.0
#: llama.cpp's classic repeat penalty, what chat and ask used before DRY (the "today" row of the answer
#: benchmark, docs/benchmarks.md)
REPEAT_PENALTY = 1.1
#: how many of the last tokens the repeat penalty looks at
REPEAT_LAST_N = 64
#: DRY ("don't repeat yourself") is off at multiplier 0; the other values are llama.cpp's defaults
DRY_MULTIPLIER = 0.0
DRY_BASE = 1.75
DRY_ALLOWED_LENGTH = 2
#: -1: the whole context (the engine resolves it: llama.cpp's C function would clamp -1 to "off")
DRY_PENALTY_LAST_N = -1
#: DRY's strength in conversations: p-e-w's recommended 0.8 (llama.cpp's --dry-multiplier example)
CHAT_DRY_MULTIPLIER = 0.8


@dataclass(frozen=True)
class SamplingSettings:
    """The sampler chain's settings.  ``seed`` None means the runtime's ``--seed``.  The defaults are
    neutral (greedy, no penalty): what measurements and probes want; conversations start from
    ``CHAT_SAMPLING``."""

    temperature: float = 0.0
    top_k: int = TOP_K
    top_p: float = TOP_P
    min_p: float = MIN_P
    repeat_penalty: float = NO_REPEAT_PENALTY
    repeat_last_n: int = REPEAT_LAST_N
    dry_multiplier: float = DRY_MULTIPLIER
    dry_base: float = DRY_BASE
    dry_allowed_length: int = DRY_ALLOWED_LENGTH
    dry_penalty_last_n: int = DRY_PENALTY_LAST_N
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def with_changes(self, **changes: Any) -> SamplingSettings:
        """A copy with the given fields replaced; ``None`` values are ignored ("not given")."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SamplingSettings:
        """Known fields only: a settings file written by a later version may hold more."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


#: greedy with no penalty: calibration, passkey retrieval and anything measured
GREEDY = SamplingSettings()
#: what chat, ask, the TUI and the server start from (a model's saved settings, a command's flags and a
#: request's fields change it).  Greedy with DRY instead of the repeat penalty: measured by
#: scripts/bench_answers.py (docs/benchmarks.md, "Answers on ..."): small models at temperature 0 loop
#: ("The package is ... The package is ..."); DRY penalises only a repeated *sequence* of the reply's own
#: tokens, so copying a number or a name from the documents costs nothing, where the repeat penalty
#: taxes every token the reply used before.  With the reminder layout (services.prompt) it loops less
#: and answers at least as often as the old repeat penalty 1.1 did.
CHAT_SAMPLING = SamplingSettings(dry_multiplier=CHAT_DRY_MULTIPLIER)
