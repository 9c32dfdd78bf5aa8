"""`localctx serve`: the OpenAI-compatible HTTP server, started from the command line.

A thin command: it turns flags into the server's typed configuration and hands over to
``localctx.server`` (the one module in cli/ that may import it).  Runtime flags mean what they mean
in every other command, so a document read by ``localctx ask MODEL --ctx N --file F`` is found in
the saved KV states by ``localctx serve MODEL --ctx N``.  So do the sampling flags: ``serve --temp 0.3``
is what every request gets unless it sends its own ``temperature``, over what ``plan MODEL --save``
saved for the model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from localctx.cli._options import ChatTemplateOpt, ForceOpt, complete_model
from localctx.cli._runtime_opts import runtime_options
from localctx.cli._sampling_opts import sampling_options
from localctx.core.conversation import REPLY_TOKENS
from localctx.core.flags import RuntimeFlags, SamplingFlags, check_sampling

if TYPE_CHECKING:
    from localctx.services.serving import ServingCore


def register(app: typer.Typer) -> None:
    @app.command()
    @runtime_options
    @sampling_options
    def serve(
        models: Annotated[list[str] | None, typer.Argument(
            help="Models to plan at start-up (the first is loaded); others load on first request. None: the "
            "default model you set (`localctx models default NAME`), if any.", autocompletion=complete_model,
            show_default=False)] = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
                        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", "-p", help="TCP port (0: any free port).")] = 8080,
        api_key: Annotated[str | None, typer.Option(
            "--api-key", help="Require Authorization: Bearer KEY on every endpoint but /health "
            "(default: $LOCALCTX_API_KEY).", show_default=False)] = None,
        cors_origin: Annotated[list[str] | None, typer.Option(
            "--cors-origin", help="A browser origin allowed to call the API (repeatable; default: none).",
            show_default=False)] = None,
        max_tokens: Annotated[int, typer.Option(
            "--max-tokens", "-n", help="Reply room reserved for a request that sends no max_tokens (its reply may "
            "use all the context left).")] = REPLY_TOKENS,
        overflow: Annotated[str, typer.Option(
            "--overflow", help="When a request does not fit n_ctx: refuse (default, HTTP 400 with the numbers), "
            "drop-oldest or truncate-middle; a request's \"overflow\" field overrides it.")] = "refuse",
        chat_template: ChatTemplateOpt = None,
        queue: Annotated[int, typer.Option("--queue", help="Requests that may wait behind the running one "
                                           "(more get HTTP 503 with Retry-After).")] = 16,
        max_body: Annotated[int, typer.Option("--max-body", help="Largest request body in bytes.")
                            ] = 8 * 1024 * 1024,
        no_state_cache: Annotated[bool, typer.Option(
            "--no-state-cache", help="Do not load or save KV states of long system prompts and documents.")
        ] = False,
        json_logs: Annotated[bool, typer.Option("--json", help="Log one JSON object per line (for log collectors).")
                             ] = False,
        force: ForceOpt = False,
        *,
        runtime: RuntimeFlags,
        sampling: SamplingFlags,
    ) -> None:
        """Serve models over the OpenAI HTTP API (chat, completions, models) on this machine.

        Example: localctx serve smollm2 --ctx 8k --port 8080
        """
        from localctx.core.chat_templates import resolve_template
        from localctx.errors import LocalctxError
        from localctx.server.app import ServerConfig
        from localctx.server.run import Listen, serve
        from localctx.server.schema import Defaults
        from localctx.services.chat_budget import check_policy
        from localctx.services.serving import ServingCore
        from localctx.services.state_cache import StateCache

        check_sampling(max_tokens)
        check_policy(overflow)
        resolve_template(chat_template)  # a bad template is refused before anything loads
        if not 0 <= port <= 65535:
            raise LocalctxError(f"--port {port} is not a TCP port", "use 1-65535, or 0 for any free port")
        if queue < 0 or max_body < 1024:
            raise LocalctxError("--queue must be at least 0 and --max-body at least 1024")
        config = ServerConfig(Defaults(sampling, max_tokens, overflow, chat_template),
                              api_key or os.environ.get("LOCALCTX_API_KEY") or None, tuple(cors_origin or ()),
                              max_body, json_logs)
        core = ServingCore(runtime, force=force, max_queue=queue, chat_template=chat_template, sampling=sampling,
                           state_cache=None if no_state_cache else StateCache())
        from localctx.models.settings_file import default_model

        chosen = default_model()
        serve(core, config, Listen(host, port), list(models or ([chosen] if chosen else [])),
              around=None if json_logs else status_line)


@contextmanager
def status_line(core: ServingCore) -> Iterator[None]:
    """On a terminal: the server's status line (server/status.py) under its log, redrawn twice a second;
    the log lines scroll above it.  Off a terminal (a pipe, a log file, a dumb terminal): nothing."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal or console.is_dumb_terminal:
        yield
        return
    from rich.live import Live
    from rich.text import Text

    from localctx.server.status import status_text

    def render() -> Text:
        return Text(status_text(core), no_wrap=True, overflow="ellipsis")

    with Live(get_renderable=render, console=console, refresh_per_second=2, transient=True,
              redirect_stdout=False, redirect_stderr=True):
        yield
