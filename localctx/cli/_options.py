"""Options shared by several commands, declared once (the runtime flags are in _runtime_opts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ModelArg = Annotated[
    str | None,
    typer.Argument(help="Model: a .gguf path, a catalog name (see `localctx models`), or a preset.",
                   show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]

#: every command that loads a model: past the memory gate
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Load even when the memory plan says the context does not fit (it may swap or crash).")]
#: chat, ask and summarize: how prompts are rendered
ChatTemplateOpt = Annotated[str | None, typer.Option(
    "--chat-template", help="Prompt format: chatml, llama3, gemma, plain, or a Jinja template file "
    "(default: the model's own; plain completion when it has none).", show_default=False)]
#: documents for chat, ask and the TUI: every format summarize reads; '-' is standard input
FileOpt = Annotated[list[Path], typer.Option(
    "--file", "-f", help="A document (text, Markdown, PDF, HTML, EPUB; - reads stdin). Repeatable.",
    show_default=False)]
#: generation options: one letter each, the same in every command
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", "-n", help="Longest reply, in tokens (at least 1).")]
