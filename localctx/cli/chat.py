"""`localctx chat` and `ask`: thin front ends over services/chat.py.

Replies stream to stdout; prompts, the token budget, progress and notices go to stderr.  During a
reply Ctrl-C only stops the generation (a SIGINT handler sets a flag the engine checks between
tokens), the partial turn is kept; at the prompt Ctrl-C or Ctrl-D leaves, every finished turn being
already committed.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from localctx.cli._options import (
    ChatTemplateOpt,
    FileOpt,
    ForceOpt,
    JsonOpt,
    MaxTokensOpt,
    ModelArg,
    ModelOpt,
    ask_arguments,
    complete_model,
)
from localctx.cli._runtime_opts import runtime_options
from localctx.cli._sampling_opts import sampling_options
from localctx.core.conversation import ChatOptions
from localctx.core.flags import RuntimeFlags, SamplingFlags, check_sampling

if TYPE_CHECKING:
    from localctx.services.chat import ChatSession

SystemOpt = Annotated[str | None, typer.Option("--system", help="System prompt (the documents follow it).")]
OverflowOpt = Annotated[str, typer.Option(
    "--overflow", help="When the documents or the history do not fit n_ctx: refuse (default; says why and what to do), "
    "drop-oldest, or truncate-middle. Never silent.")]

INPUT_HELP = """input: a line ending in \\ goes on; a line of just \"\"\" starts and ends a block.
Ctrl-C while the model is answering stops the answer and keeps the session."""


# ---- progress and input ------------------------------------------------------------------------------
@contextmanager
def ingest_progress(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """Progress of a document read on stderr (a live bar on a terminal, a plain line every few seconds
    elsewhere), fed by the engine's (done, total) callback."""
    if not enabled:
        yield None
        return
    from localctx.cli._progress import LongWork

    with LongWork(label) as work:
        yield work.tokens


class LineReader:
    """Reads one message: a line ending in \\ continues; a line of just \"\"\" opens/closes a block."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdin
        self.interactive = self.stream.isatty() and sys.stdout.isatty()
        if self.interactive:
            try:
                import readline  # noqa: F401  (line editing and history for input())
            except ImportError:  # pragma: no cover
                pass

    def _line(self, prompt: str) -> str:
        if self.interactive:
            return input(prompt)
        from localctx.cli._output import stderr

        stderr.print(prompt, end="", markup=False, highlight=False)
        line = self.stream.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    def read(self) -> str:
        line = self._line("you> ")
        if line.strip() == '"""':
            parts = []
            while (line := self._line("... ")).strip() != '"""':
                parts.append(line)
            return "\n".join(parts)
        parts = []
        while line.endswith("\\"):
            parts.append(line[:-1])
            line = self._line("... ")
        parts.append(line)
        return "\n".join(parts)


@contextmanager
def sigint_sets(flag: list[bool]) -> Iterator[None]:
    """While inside, Ctrl-C sets ``flag[0]`` instead of raising KeyboardInterrupt."""
    def handler(signum: int, frame: Any) -> None:
        flag[0] = True

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (e.g. a test runner's worker): no handler to swap
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


# ---- rendering -------------------------------------------------------------------------------------------
def _describe(chat: ChatSession) -> str:
    e = chat.engine
    plan = getattr(e, "plan", None)
    ext = ""
    if plan is not None and plan.method not in ("none",) and plan.factor > 1:
        ext = f", extended {plan.method} x{plan.factor:g} from {plan.n_ctx_train:,}"
    docs = ", ".join(f"{d.name}" for d in chat.documents) or "no documents"
    return f"{e.path.name} · n_ctx {e.n_ctx:,}{ext} · {docs}"


def _notices(chat: ChatSession) -> None:
    from localctx.cli._output import warn

    for n in chat.drain_notices():
        warn(n)


def _prepare(chat: ChatSession, show: bool, progress: bool | None = None) -> None:
    from localctx.cli._output import info
    from localctx.cli._stop import stop_on_sigint

    label = "reading the documents" if chat.documents else "reading the prompt"
    eta = chat.forecast_ingest() if chat.documents else None
    if show and eta is not None and eta[0] >= 2:
        from localctx.services.forecast import ingest_eta_text

        info(f"[dim]documents: {ingest_eta_text(eta)} to evaluate them unless a saved KV state matches[/]")
    with stop_on_sigint() as stop, ingest_progress(
            (show if progress is None else progress) and bool(chat.documents), label) as on_tokens:
        r = chat.prepare(on_tokens, should_stop=stop.requested)
    _notices(chat)
    if show and chat.documents:
        if r.cache == "hit":
            info(f"[dim]documents: {r.n_tokens:,} tokens loaded from the saved KV state in {r.seconds:.2f} s[/]")
        else:
            rate = f" ({r.tok_s:,.0f} tok/s)" if r.tok_s else ""
            info(f"[dim]documents: {r.n_tokens:,} tokens evaluated in {r.seconds:.1f} s{rate}; KV state saved[/]")


def _tokens_report(chat: ChatSession) -> str:
    b = chat.budget()
    lines = [f"n_ctx      {b.n_ctx:>8,}", f"documents  {b.documents:>8,}", f"history    {b.history:>8,}",
             f"reply ≤    {b.reply:>8,}", f"free       {max(b.free, 0):>8,}"]
    if chat.ingest_report:
        lines.append(f"documents came from: {chat.ingest_report.cache} ({chat.ingest_report.seconds:.2f} s)")
    t = chat.last_turn
    if t:
        lines.append(f"last turn: prompt {t.prompt_tokens:,} tokens, {t.evaluated_tokens:,} evaluated "
                     f"(the rest reused from the KV cache), reply {t.reply_tokens:,}"
                     + (f", first token {t.ttft_s:.2f} s" if t.ttft_s is not None else "")
                     + (f", {t.gen_tok_s:.1f} tok/s" if t.gen_tok_s else ""))
    return "\n".join(lines)


def _run_command(chat: ChatSession, name: str, arg: str) -> str | None:
    """The text a known command shows (services.chat_commands does the work); None: said already."""
    from localctx.core.chat_commands import help_text
    from localctx.services import chat_commands as commands

    if name == "/help":
        return f"{help_text()}\n{INPUT_HELP}"
    if name == "/tokens":
        return _tokens_report(chat)
    if name == "/clear":
        old = chat.clear()
        return "history cleared" + (f"; the old session is kept: localctx chat --resume {old}" if old else "")
    if name == "/save":
        return f"saved {chat.save(Path(arg) if arg else None)}"
    if name == "/system":
        return commands.set_system(chat, arg)
    if name == "/file":
        from localctx.cli._output import stderr
        from localctx.services.chat import Cancelled  # the engine stopped by Ctrl-C (cli does not import engine)

        stderr.print(commands.add_file(chat, arg), markup=False, highlight=False, soft_wrap=True)
        _notices(chat)  # what the overflow policy cut to make room
        try:
            _prepare(chat, show=True)  # read it now, with progress, not in front of the next answer
        except Cancelled:
            return "reading stopped; the documents are read before the next answer"
        return None
    if name == "/set":
        return commands.set_sampling(chat, arg)
    if name == "/show":
        return commands.show(chat)
    return commands.describe_model(chat)  # /model


def _command(chat: ChatSession, text: str) -> bool:
    """Run a /command; returns False to leave.  A refusal is one line and the chat goes on."""
    from localctx.cli._output import error_line, stderr
    from localctx.core.chat_commands import parse, unknown
    from localctx.errors import LocalctxError

    cmd = parse(text)
    if cmd.leaves:
        return False
    if not cmd.known:
        error_line(unknown(cmd))
        return True
    try:
        said = _run_command(chat, cmd.name, cmd.arg)
    except LocalctxError as exc:  # a bad path, value or a document that does not fit must not end the chat
        error_line(exc.one_line())
        return True
    if said:
        stderr.print(said, markup=False, highlight=False, soft_wrap=True)
    _notices(chat)
    return True


def _reply(chat: ChatSession, text: str) -> None:
    from localctx.cli._output import info

    stop = [False]
    turns_before = len(chat.turns)
    with sigint_sets(stop):
        for piece in chat.send(text, should_stop=lambda: stop[0]):
            sys.stdout.write(piece)
            sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()
    t = chat.last_turn
    if t is None:
        return
    if t.stopped and len(chat.turns) == turns_before:  # stopped while the prompt was evaluated
        info("[dim]stopped before the reply began; nothing was added to the session[/]")
        return
    tail = " · stopped (kept)" if t.stopped else (
        f" · reply cut at {t.reply_tokens:,} tokens (-n); raise -n for more" if t.stop_reason == "length" else "")
    ttft = f"first token {t.ttft_s:.2f} s · " if t.ttft_s is not None else ""
    rate = f" at {t.gen_tok_s:.1f} tok/s" if t.gen_tok_s else ""
    info(f"[dim]{ttft}{t.evaluated_tokens:,} new prompt tokens · {t.reply_tokens:,} reply tokens{rate}{tail}[/]")


def chat_loop(chat: ChatSession, reader: LineReader) -> None:
    from localctx.cli._output import info

    while True:
        info(f"[dim]\\[{chat.budget().line()}][/]")
        try:
            text = reader.read()
        except (EOFError, KeyboardInterrupt):
            sys.stderr.write("\n")
            break
        if not text.strip():
            continue
        if text.startswith("/"):
            if not _command(chat, text):
                break
            continue
        _reply(chat, text)
        _notices(chat)
    if chat.session:
        info(f"session {chat.session.id} saved; continue with: localctx chat --resume {chat.session.id}")


# ---- commands --------------------------------------------------------------------------------------------
def register(app: typer.Typer) -> None:
    @app.command()
    @runtime_options
    @sampling_options
    def chat(model: ModelArg = None, file: FileOpt = [], system: SystemOpt = None,  # noqa: B006
             overflow: OverflowOpt = "refuse",
             resume: Annotated[str | None, typer.Option(
                 "--resume", help="Continue a saved session (see `localctx sessions`).")] = None,
             max_tokens: MaxTokensOpt = 512, chat_template: ChatTemplateOpt = None, force: ForceOpt = False, *,
             runtime: RuntimeFlags, sampling: SamplingFlags) -> None:
        """Chat with a model about documents, in the terminal; replies stream, the budget stays visible.

        Example: localctx chat smollm2 --file notes.txt --ctx 16k
        """
        from localctx.cli._output import before_load, info
        from localctx.cli._streams import require_open
        from localctx.services.chat import ChatSession

        require_open(0, 1, why="chat reads your messages and writes its replies there")
        if any(str(f) == "-" for f in file):
            from localctx.errors import LocalctxError

            raise LocalctxError("chat reads your messages from standard input, so --file - cannot be a document "
                                "here", "give the document as a file, or use `localctx ask MODEL --file - QUESTION`")
        options = chat_options(max_tokens, sampling, system, overflow, chat_template)
        session = ChatSession.open(model, file, options=options, resume_id=resume, flags=runtime,
                                   force=force, on_plan=before_load)
        with session:
            info(f"[bold]{_describe(session)}[/]  [dim](/help for commands)[/]")
            _notices(session)
            _prepare(session, show=True)
            chat_loop(session, LineReader())

    @app.command()
    @runtime_options
    @sampling_options
    def ask(first: Annotated[str | None, typer.Argument(
                metavar="MODEL", help="Model: a .gguf path, a catalog name, or a preset. Omitted (one argument: "
                "the question): -m MODEL, else the default model (`localctx models default`).", show_default=False,
                autocompletion=complete_model)] = None,
            second: Annotated[str | None, typer.Argument(metavar="QUESTION", help="The question.",
                                                         show_default=False)] = None,
            model_opt: ModelOpt = None, file: FileOpt = [], system: SystemOpt = None, overflow: OverflowOpt = "refuse",  # noqa: B006
            max_tokens: MaxTokensOpt = 512, chat_template: ChatTemplateOpt = None, force: ForceOpt = False,
            json_: JsonOpt = False, *, runtime: RuntimeFlags, sampling: SamplingFlags) -> None:
        """One question about documents, no session: for scripts (--json adds token counts, timings and
        the passage of the documents restated beside the question, if any).

        Piped standard input is a document too: cat notes.txt | localctx ask smollm2 "What is due?"
        One argument is the question, asked of -m MODEL or the default model: localctx ask "What is due?" -f notes.txt

        Example: localctx ask smollm2 --file book.txt "Who is the narrator?" --json
        """
        from localctx.cli._output import before_load, emit_json, warn
        from localctx.cli._streams import require_open
        from localctx.errors import LocalctxError
        from localctx.services.chat import ChatSession

        require_open(1, why="the answer would be lost")
        model, question = ask_arguments(first, second, model_opt)
        if not question.strip():
            raise LocalctxError("the question is empty", 'ask something, e.g. localctx ask smollm2 "What is it about?"')
        options = chat_options(max_tokens, sampling, system, overflow, chat_template)
        from localctx.cli._stdin import with_piped_stdin

        file = with_piped_stdin(file)
        with ChatSession.open(model, file, options=options, flags=runtime, persist=False,
                              force=force, on_plan=before_load) as session:
            _notices(session)
            _prepare(session, show=not json_ and sys.stderr.isatty(), progress=True)
            from localctx.cli._stop import stop_on_sigint

            pieces = []
            with stop_on_sigint() as stop:
                for piece in session.send(question, should_stop=stop.requested):
                    pieces.append(piece)
                    if not json_:
                        sys.stdout.write(piece)
                        sys.stdout.flush()
            if json_:
                emit_json(ask_result(session, "".join(pieces)))
            else:
                sys.stdout.write("\n")
                _notices(session)  # e.g. the reply stopped because it began repeating itself
            t = session.last_turn
            if t is not None and t.stop_reason == "cancelled":
                raise KeyboardInterrupt
            if t is not None and t.stop_reason in ("length", "context"):
                why = "(-n)" if t.stop_reason == "length" else "(the context is full)"
                more = "raise -n for more" if t.stop_reason == "length" else "raise --ctx for more"
                warn(f"reply cut at {t.reply_tokens:,} tokens {why}; {more}")


def chat_options(max_tokens: int, sampling: SamplingFlags, system: str | None, overflow: str,
                 chat_template: str | None) -> ChatOptions:
    """The conversation's options from the command's flags (checked first: one line, exit 2)."""
    check_sampling(max_tokens)
    sampling.overrides()
    return ChatOptions(reply_tokens=max_tokens, sampling_flags=sampling, system=system, overflow=overflow,
                       chat_template=chat_template)


def ask_result(session: ChatSession, answer: str) -> dict[str, Any]:
    """The JSON of `localctx ask`: the answer, token counts and timings, the passage restated beside
    the question (the prompt layout's; null when none)."""
    from localctx.services.chat_parts import restated_passage

    r, t, b = session.ingest_report, session.last_turn, session.budget()
    assert r is not None and t is not None
    return {
        "answer": answer,
        "model": str(session.engine.path),
        "n_ctx": session.engine.n_ctx,
        "documents": session.document_report(),
        "tokens": {"documents": r.n_tokens, "prompt": t.prompt_tokens, "evaluated": r.evaluated + t.evaluated_tokens,
                   "reply": t.reply_tokens, "n_ctx": b.n_ctx},
        "timings": {"load_s": session.load_seconds, "ingest_s": r.seconds, "ingest_tok_s": r.tok_s,
                    "ttft_s": t.ttft_s, "prompt_tok_s": t.prompt_tok_s, "gen_tok_s": t.gen_tok_s,
                    "answer_s": t.total_s,
                    "ingest_forecast": None if session.ingest_forecast is None else dict(zip(
                        ("seconds", "band", "source"), session.ingest_forecast, strict=True))},
        "state_cache": r.cache,
        "stop_reason": t.stop_reason,
        "passage": restated_passage(session, session.turns[-1].user) if session.turns else None,
        "notices": session.all_notices(),
    }
