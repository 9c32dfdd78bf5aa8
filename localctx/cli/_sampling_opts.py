"""llama.cpp-named sampling flags, declared once for every command that generates text (chat, ask,
summarize, tui) and for ``plan`` (which shows and saves them per model).

``sampling_options`` appends ``--temp``, ``--top-k``, ``--top-p``, ``--min-p``, ``--repeat-penalty``,
``--repeat-last-n``, ``--dry-multiplier``, ``--dry-base``, ``--dry-allowed-length`` and
``--dry-penalty-last-n`` to the command's signature and hands it one ``sampling: SamplingFlags``
keyword (None = not given: the model's saved setting, else the default).  The type and its validation
live below the front ends (``localctx.core.flags``), so the TUI and the server check the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from localctx.core.flags import SAMPLING_FLAG_NAMES, SamplingFlags
from localctx.core.sampling import CHAT_SAMPLING as D

_PANEL = "Sampling (llama.cpp names)"


def _opt(decl: str, help: str) -> Any:
    return typer.Option(decl, help=help, rich_help_panel=_PANEL, show_default=False)


_OPTIONS: list[tuple[str, Any, Any]] = [
    ("temp", float | None, _opt("--temp", f"Temperature; 0 is greedy (default {D.temperature:g}).")),
    ("top_k", int | None, _opt("--top-k", f"Keep the K most likely tokens; 0: off (default {D.top_k}).")),
    ("top_p", float | None, _opt("--top-p", f"Nucleus sampling; 1.0: off (default {D.top_p:g}).")),
    ("min_p", float | None, _opt("--min-p", f"Drop tokens below this share of the top one; 0: off "
                                            f"(default {D.min_p:g}).")),
    ("repeat_penalty", float | None, _opt("--repeat-penalty", f"Penalty on tokens the reply repeated; 1.0: off "
                                                              f"(default {D.repeat_penalty:g}).")),
    ("repeat_last_n", int | None, _opt("--repeat-last-n", f"Tokens the repeat penalty looks back; -1: the whole "
                                                          f"context (default {D.repeat_last_n}).")),
    ("dry_multiplier", float | None, _opt("--dry-multiplier", f"DRY (don't repeat yourself) strength; 0: off "
                                                              f"(default {D.dry_multiplier:g}).")),
    ("dry_base", float | None, _opt("--dry-base", f"DRY penalty growth per repeated token, at least 1 "
                                                  f"(default {D.dry_base:g}).")),
    ("dry_allowed_length", int | None, _opt("--dry-allowed-length", f"Repeats up to this many tokens go unpenalized "
                                                                    f"(default {D.dry_allowed_length}).")),
    ("dry_penalty_last_n", int | None, _opt("--dry-penalty-last-n", f"Tokens DRY looks back; -1: the whole context "
                                                                    f"(default {D.dry_penalty_last_n}).")),
]
assert tuple(n for n, _, _ in _OPTIONS) == SAMPLING_FLAG_NAMES


def sampling_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the sampling flags to a Typer command; the command receives ``sampling: SamplingFlags``."""
    sig = inspect.signature(fn, eval_str=True)
    if "sampling" not in sig.parameters:
        raise TypeError(f"{fn.__name__} must accept a `sampling` keyword")
    kept = [p for p in sig.parameters.values() if p.name != "sampling"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[typ, opt])
             for name, typ, opt in _OPTIONS]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = SamplingFlags(**{name: kwargs.pop(name, None) for name in SAMPLING_FLAG_NAMES})
        flags.overrides()  # a bad value fails here: one line, exit 2, before anything loads
        return fn(*args, sampling=flags, **kwargs)

    params = kept + added
    kinds = [inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
             inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD]
    new_sig = sig.replace(parameters=sorted(params, key=lambda p: kinds.index(p.kind)))
    wrapper.__signature__ = new_sig  # type: ignore[attr-defined]  # read by inspect.signature
    wrapper.__annotations__ = {p.name: p.annotation for p in new_sig.parameters.values()
                               if p.annotation is not inspect.Parameter.empty}
    del wrapper.__wrapped__  # typer must see the new signature, not the original
    return wrapper
