"""The `localctx` command: assembles the command modules and maps errors in one place."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer import Abort
from typer.core import TyperGroup

try:  # newer Typer vendors Click: its exceptions are not the `click` package's
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[assignment]  # same classes, older Typer

from localctx.cli import (
    bench,
    cache,
    chat,
    config,
    doctor,
    estimate,
    inspect,
    models,
    plan,
    presets,
    pull,
    rpc_server,
    serve,
    sessions,
    summarize,
    tui,
)
from localctx.cli import eval as eval_command
from localctx.errors import LocalctxError, state_file_error

#: OS errors that mean "this disk or folder cannot take the write", not a bug: said in one line
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                errno.EISDIR}


class LocalctxGroup(TyperGroup):
    """Turns LocalctxError into one line on stderr and its exit code (2: bad input, 1: run failure),
    and Click's usage errors (missing argument, bad option or value, unknown command) into one line
    with a hint and exit 2, instead of Typer's multi-line box."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        if {"--help", "-h"} & set(sys.argv[1:] if args is None else args):
            from localctx.cli._tables import keep_help_flags_whole

            keep_help_flags_whole(self)  # only then: Typer's help renderer costs most of a second to import
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              windows_expand_args=windows_expand_args, **extra)
        except UsageError as exc:
            if not standalone_mode:
                raise
            from localctx.cli._output import error_line

            error_line(usage_line(exc))
            sys.exit(2)
        except Abort:
            if not standalone_mode:
                raise
            sys.stderr.write("aborted\n")
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        from localctx.cli._output import error_line, quiet_stdout, state_warnings_as_lines

        try:
            with state_warnings_as_lines():
                return super().invoke(ctx)
        except LocalctxError as exc:
            if os.environ.get("LOCALCTX_DEBUG"):
                traceback.print_exc()
            error_line(exc.one_line())
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None
        except OSError as exc:  # a full disk or a read-only folder met where no command expected one
            if os.environ.get("LOCALCTX_DEBUG") or exc.errno not in _DISK_ERRNOS:
                raise
            if exc.filename is None:  # the output itself (stdout to a full disk or /dev/full)
                quiet_stdout()
                error_line(f"cannot write the output: {exc.strerror or exc}")
            else:
                hint = state_file_error(exc.filename, exc, "a file").hint
                error_line(" ".join(f"{exc.filename}: {exc.strerror or exc} — {hint}".split()))
            raise typer.Exit(1) from None


def usage_line(exc: UsageError) -> str:
    """One line for a usage error: Click's message, then where the command's help is."""
    ctx = exc.ctx
    where = ctx.command_path if ctx is not None else "localctx"
    if ctx is not None and (isinstance(exc, NoArgsIsHelpError) or exc.format_message() == "Missing command."):
        names = sorted(getattr(ctx.command, "commands", {}) or ())
        msg = f"{where} needs a command" + (f": {', '.join(names)}" if names else "")
    else:
        msg = " ".join(exc.format_message().split())
    return f"{msg} — see `{where} --help`"


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from localctx import __version__

        try:
            lcp = version("llama_cpp_python")
        except PackageNotFoundError:  # pragma: no cover
            lcp = "not installed"
        typer.echo(f"localctx {__version__} (llama-cpp-python {lcp})")
        raise typer.Exit()


app = typer.Typer(
    cls=LocalctxGroup,
    name="localctx",
    help="Run quantized long-context GGUF models locally: inspect, plan memory, extend context, chat, summarize.",
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=True,  # --install-completion / --show-completion, Typer's own
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: every command module, each with ``register(app)``, in the order `localctx --help` lists them.  Imported
#: by name: a missing module is a broken install and fails here, loudly.
COMMAND_MODULES = (
    models, inspect, doctor, estimate, plan, bench, presets, pull, chat, sessions, cache, summarize, eval_command,
    tui, rpc_server, serve, config,
)


@app.callback()
def _root(ctx: typer.Context, version: Annotated[bool, typer.Option(
        "--version", help="Print the version (and llama.cpp's) and exit.", is_eager=True,
        callback=_version)] = False) -> None:
    """localctx: know before you load whether a context fits; run past the trained length and measure it."""
    if ctx.invoked_subcommand is None:
        if sys.stdout.isatty():
            tui.open_tui()
        else:
            typer.echo(ctx.get_help())


for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    from localctx.cli._streams import reopen_closed

    reopen_closed()  # before anything can open a file onto a free descriptor 0-2 or write to None
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
