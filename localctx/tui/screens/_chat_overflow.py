"""What Chat does after the overflow dialog closes, decided without any widget.

``after_overflow`` turns the user's choice into an ``OverflowStep``: the next load request (if any),
the app's new flags (raise the context), a question to ask again, a file to hand to Summarize, or a
trimming policy to set on the open session.  The screen only carries the step out, so every branch is
tested as a plain function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from localctx.core.flags import RuntimeFlags
from localctx.tui.dialogs.overflow import OverflowChoice
from localctx.tui.screens._chat_worker import LoadRequest


@dataclass(frozen=True)
class OverflowStep:
    open: LoadRequest | None = None  # reopen with this request
    flags: RuntimeFlags | None = None  # make these the app's flags first (a raised context)
    resend: str | None = None  # ask this again once the reopened session is ready
    summarize: bool = False  # hand ``summarize_file`` to the Summarize screen
    summarize_file: Path | None = None
    policy: str | None = None  # on the open session: "clear", or the trimming policy to use from now on
    send: str | None = None  # ask this again now on the open session (after ``policy``)
    notice: str | None = None  # a warning for the user


def after_overflow(choice: OverflowChoice | None, *, what: str, text: str, failed: LoadRequest | None,
                   previous: LoadRequest, model: str, flags: RuntimeFlags,
                   files: Sequence[Path] = ()) -> OverflowStep:
    """The next step for ``choice`` (None: cancelled).

    ``what``: "documents" (opening ``failed`` overflowed) or "conversation" (the question ``text`` did);
    ``previous``: what reopens the conversation as it was; ``model``/``flags``: the app's current ones;
    ``files``: the documents of the open session."""
    documents = what == "documents"
    if choice is None:
        if documents:  # back to where the user was: the previous conversation, or none
            return OverflowStep(open=previous, notice="nothing was attached")
        return OverflowStep()
    if choice.action == "raise-ctx" and choice.n_ctx:
        raised = replace(flags, ctx=choice.n_ctx)
        base = failed if documents and failed is not None else previous
        return OverflowStep(open=replace(base, model=model, flags=raised), flags=raised,
                            resend=None if documents else text)
    if choice.action == "summarize":
        docs = failed.files if failed is not None else tuple(files)
        return OverflowStep(open=previous, summarize=True, summarize_file=docs[-1] if docs else None)
    if documents:
        return OverflowStep(open=failed.with_overflow(choice.action)) if failed is not None else OverflowStep()
    return OverflowStep(policy=choice.action, send=text)
