"""The options of one conversation, built by every front end (CLI, TUI, HTTP server) and taken by
``services.chat.ChatSession``: one typed object instead of keyword bags, so a flag, a screen field and
a request field that mean the same thing land in the same place."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from localctx.core.flags import SamplingFlags
from localctx.core.sampling import CHAT_SAMPLING, SamplingSettings

#: the longest reply a turn reserves room for, unless asked otherwise (-n, max_tokens)
REPLY_TOKENS = 512
#: room kept free for the next question when documents are fitted into the context: the question, the
#: reminder and the passage restated beside it (core.excerpt.MAX_CHARS)
QUESTION_ROOM = 160
#: where the question sits relative to the documents (services.prompt renders them): after (the bare
#: question after the documents), reminder (a short instruction restated, then the question) or
#: excerpt (the reminder, the passage that best matches the question, then the question)
LAYOUTS = ("after", "reminder", "excerpt")
#: measured by scripts/bench_answers.py (docs/benchmarks.md, "answers")
DEFAULT_LAYOUT = "excerpt"


@dataclass(frozen=True)
class ChatOptions:
    """What shapes a conversation besides the model and its runtime settings.

    ``system`` None: the default system prompt.  ``chat_template`` None: the model's own template
    (a plain completion prompt when it has none); else a built-in name or a Jinja file.  ``stop``:
    extra stop strings on top of the template's own.  ``overflow``: refuse | drop-oldest |
    truncate-middle (services.chat_budget).  ``layout``: where the question sits relative to the
    documents (services.prompt.LAYOUTS; the default keeps the document prefix shared).  ``loop_guard``:
    stop a reply that starts repeating itself (core.loops) and say so."""

    reply_tokens: int = REPLY_TOKENS
    sampling: SamplingSettings = field(default_factory=lambda: CHAT_SAMPLING)
    sampling_flags: SamplingFlags = field(default_factory=SamplingFlags)
    stop: tuple[str, ...] = ()
    system: str | None = None
    overflow: str = "refuse"
    chat_template: str | None = None
    question_room: int = QUESTION_ROOM
    layout: str = DEFAULT_LAYOUT
    loop_guard: bool = True

    def with_sampling(self, **changes: Any) -> ChatOptions:
        """A copy whose sampling has the given fields replaced (None: not given)."""
        return replace(self, sampling=self.sampling.with_changes(**changes))
