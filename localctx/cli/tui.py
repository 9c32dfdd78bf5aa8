"""`localctx tui`: the terminal UI (also what `localctx` with no arguments opens in a terminal)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from localctx.cli._options import ModelArg
from localctx.cli._runtime_opts import runtime_options
from localctx.cli._sampling_opts import sampling_options
from localctx.core.flags import RuntimeFlags, SamplingFlags

SCREENS = ("models", "plan", "chat", "summarize")


def register(app: typer.Typer) -> None:
    @app.command()
    @runtime_options
    @sampling_options
    def tui(
        model: ModelArg = None,
        screen: Annotated[str, typer.Option("--screen", "-s", help="Open on: models, plan, chat or summarize.")]
        = "plan",
        file: Annotated[list[Path] | None, typer.Option("--file", "-f", help="Documents to attach in Chat.")]
        = None,
        *,
        runtime: RuntimeFlags,
        sampling: SamplingFlags,
    ) -> None:
        """Open the terminal UI: models, a live memory plan, chat with documents, summarize.

        Example: localctx tui smollm2 --ctx 4096 --screen chat -f notes.md
        """
        from localctx.errors import LocalctxError

        if model is not None:  # a model that is not here: the resolver's answer, as in every command
            from localctx.services.models import resolve_reference

            resolve_reference(model)
        if any(str(f) == "-" for f in file or ()):
            raise LocalctxError("the terminal UI reads the keyboard from standard input, so --file - cannot be "
                                "a document here", "give the document as a file, or use `localctx ask MODEL "
                                "--file - QUESTION`")
        if screen not in SCREENS:
            raise LocalctxError(f"unknown screen '{screen}'", f"use one of: {', '.join(SCREENS)}")
        runtime.overrides()  # bad flags fail here, with the CLI's message, before the screen opens
        open_tui(model, flags=runtime, mode=screen, files=file or (), sampling=sampling)


def open_tui(model: str | None = None, *, flags: RuntimeFlags | None = None, mode: str = "plan",
             files: Sequence[Path] = (), sampling: SamplingFlags | None = None) -> None:
    """Start the terminal UI: the one place a CLI command reaches into the other front end.

    Imported on call, so CLI commands never pay for loading Textual."""
    from localctx.core.conversation import ChatOptions
    from localctx.tui.app import run_tui

    options = ChatOptions(sampling_flags=sampling) if sampling is not None else None
    run_tui(model, flags=flags, mode=mode, files=files, chat_options=options)
