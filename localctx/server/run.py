"""Starting and stopping `localctx serve`: bind, load, serve with uvicorn, drain on Ctrl-C/SIGTERM.

The socket is bound here before uvicorn starts, so a port in use is one line and exit 2 (uvicorn would
log and exit on its own), and ``--port 0`` picks a free port that the "listening" line names.  The
first Ctrl-C or SIGTERM stops taking connections, lets the running and queued requests finish and
exits 0; a second one ends at once.  ``around`` wraps the serving (the command's status line on a
terminal, server/status.py).
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import uvicorn

from localctx.core.flags import is_loopback
from localctx.errors import LocalctxError
from localctx.server.app import ServerConfig, build_app
from localctx.server.watch import emit_line
from localctx.services.serving import ServingCore


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8080


def bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as exc:
        sock.close()
        hint = "pick another --port (0: any free one)" if listen.port else "check --host"
        raise LocalctxError(f"cannot listen on {listen.host}:{listen.port}: {exc.strerror or exc}", hint) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it once it has drained, which ends the process with
    that signal; a drained server that was asked to stop has done its job and exits 0 instead."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def serve(core: ServingCore, config: ServerConfig, listen: Listen, models: Sequence[str],
          around: Callable[[ServingCore], AbstractContextManager[object]] | None = None) -> None:
    """Plan and load the named models (refused before anything loads), then serve until stopped
    (inside ``around(core)`` when given)."""
    log = config.json_logs
    if not is_loopback(listen.host) and not config.api_key:
        emit_line(f"warning: listening on {listen.host} without --api-key: anyone who can reach this machine "
                  "can use the model", log)
    sock = bind(listen)
    try:
        plans = core.preload(models)
    except BaseException:
        sock.close()
        raise
    for ref, rp in zip(models, plans, strict=True):
        emit_line({"event": "planned", "model": ref, "n_ctx": rp.settings.n_ctx, "verdict": rp.verdict.summary}
                  if log else f"{ref}: n_ctx {rp.settings.n_ctx:,}; {rp.verdict.summary}", log)
        if rp.saved_line:  # what requests get unless they send their own, said as every command says it
            emit_line({"event": "saved_settings", "model": ref, "settings": rp.saved,
                       "sampling": rp.sampling.saved if rp.sampling else {}} if log else f"{ref}: {rp.saved_line}",
                      log)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/v1"
    loaded = core.loaded.ref if core.loaded else "none yet (loaded on the first request)"
    emit_line({"event": "listening", "url": url, "model": loaded} if log
              else f"localctx serve: listening on {url} (model: {loaded}; Ctrl-C stops)", log)
    app = build_app(core, config)
    uconfig = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=30)
    server = _Server(uconfig)
    try:
        with around(core) if around is not None else nullcontext():
            server.run(sockets=[sock])
    finally:
        sock.close()
        core.close(cancel=True)  # after a drain nothing is left; after a second Ctrl-C, stop now
    emit_line({"event": "stopped"} if log else "localctx serve: stopped", log)

