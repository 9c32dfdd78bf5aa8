"""Options shared by several commands, declared once (the runtime flags are in _runtime_opts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def complete_model(incomplete: str) -> list[str]:
    """Shell completion of MODEL: the catalog's names (bundled, registered, pulled, presets) that start
    with what is typed.  Reads the registry and walks the Hugging Face cache; never opens a model file,
    and a damaged state file completes nothing instead of printing into the shell."""
    import warnings

    from localctx.errors import LocalctxError
    from localctx.models.catalog import model_names

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = model_names()
    except (LocalctxError, OSError):
        return []
    low = incomplete.lower()
    return [n for n in names if n.lower().startswith(low)]


#: MODEL of every command that takes one; omitted: the default model (`localctx models default NAME`)
ModelArg = Annotated[
    str | None,
    typer.Argument(help="Model: a .gguf path, a catalog name (see `localctx models`), or a preset "
                   "(default: the default model, `localctx models default`).", show_default=False,
                   autocompletion=complete_model),
]
#: MODEL as an option, where the positionals are something else (`summarize FILE -m M`, `ask -m M "QUESTION"`)
ModelOpt = Annotated[str | None, typer.Option(
    "--model", "-m", help="Model: a .gguf path, a catalog name or a preset (default: the default model, "
    "`localctx models default`).",
    show_default=False, autocompletion=complete_model)]
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


def ask_arguments(first: str | None, second: str | None, model_opt: str | None) -> tuple[str | None, str]:
    """MODEL and QUESTION of `ask`, told apart by count: two arguments are MODEL QUESTION, one is the
    question (asked of -m MODEL, else of the default model).  One argument that is exactly a model's
    name is a forgotten question, refused rather than asked."""
    from localctx.errors import LocalctxError

    if first is None:
        raise LocalctxError("Missing argument 'QUESTION'", "see `localctx ask --help`")
    if second is not None:
        if model_opt is not None:
            raise LocalctxError(f"two models given: -m {model_opt} and '{first}'",
                                'give one: localctx ask -m MODEL "QUESTION" or localctx ask MODEL "QUESTION"')
        return first, second
    if model_opt is None and not any(c.isspace() for c in first):
        from localctx.models.catalog import model_names

        if first.lower() in (n.lower() for n in model_names()) or first.lower().endswith(".gguf"):
            raise LocalctxError(f"Missing argument 'QUESTION' ('{first}' is a model: localctx ask {first} "
                                '"QUESTION")', "see `localctx ask --help`")
    return model_opt, first
