"""The operator's status line: what a running `localctx serve` is doing, in one line of words.

``localctx serve`` on a terminal keeps this line under its log and redraws it (the command draws it
with Rich; this room only says what it reads): the loaded model and its context, requests running and
waiting, requests served, and the last reply's tokens and speed.  Off a terminal, or with ``--json``,
there is no status line: a log collector gets the plain (or JSON) lines and nothing that redraws.
"""

from __future__ import annotations

from localctx.services.serving import ServingCore


def status_text(core: ServingCore) -> str:
    """The status line's words, the most wanted first (the terminal cuts the end at its width):
    ``smollm2 ctx 2,048 · running 0 · queued 0 · last 6 tok at 25.3 tok/s · served 1``."""
    st = core.status()
    lm = core.loaded
    parts = [f"{lm.ref} ctx {lm.engine.n_ctx:,}" if lm is not None else "no model yet (loaded on first request)",
             f"running {1 if st['state'] == 'busy' else 0}", f"queued {st['queued']}"]
    last = st.get("last")
    if last is not None:
        speed = f" at {last['gen_tok_s']:.1f} tok/s" if last.get("gen_tok_s") is not None else ""
        parts.append(f"last {last['completion_tokens']:,} tok{speed}")
    parts.append(f"served {st['served']}")
    return " · ".join(parts)
