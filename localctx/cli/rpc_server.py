"""`localctx rpc-server`: lend this machine's memory (and GPU) to another machine's llama.cpp.

It runs llama.cpp's own RPC server from the installed library: the client (`--rpc HOST:PORT` on any
command that loads a model) then places layers here as if this machine were one of its GPUs.
The protocol has no authentication and no encryption, so it listens on 127.0.0.1 unless ``--host``
says otherwise; reach it from another machine through an SSH tunnel (see the README).
"""

from __future__ import annotations

from typing import Annotated

import typer

from localctx.core.flags import is_loopback


def tunnel_hint(port: int) -> str:
    """The SSH tunnel that reaches a loopback server on ``port`` from another machine."""
    return f"ssh -N -L {port}:127.0.0.1:{port} user@this-machine  (then --rpc 127.0.0.1:{port} there)"


SECURITY_WARNING = ("llama.cpp's RPC protocol has no authentication or encryption: anyone who can reach "
                    "{endpoint} can run code paths in this process and read what it computes. Bind to "
                    "127.0.0.1 and use an SSH tunnel, or only use a network you trust.")


def register(app: typer.Typer) -> None:
    @app.command("rpc-server")
    def rpc_server(
        host: Annotated[str, typer.Option(
            "--host", help="Address to listen on (default 127.0.0.1: this machine only).")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", "-p", help="TCP port (llama.cpp's default 50052).")] = 50052,
        threads: Annotated[int | None, typer.Option(
            "--threads", "-t", help="CPU threads for the CPU device (default: physical cores).")] = None,
        device: Annotated[str | None, typer.Option(
            "--device", "-d",
            help="Local devices to serve, comma-separated: CPU, CUDA0, ... "
                 "(default: the first GPU, else the CPU).")] = None,
        cache_dir: Annotated[str | None, typer.Option(
            "--cache-dir", help="Keep received tensors here so a reload skips sending them again.")] = None,
    ) -> None:
        """Serve this machine's memory to another machine's llama.cpp over its RPC protocol (Ctrl-C stops)."""
        from localctx.cli._output import info, warn
        from localctx.errors import SettingsError

        if not 0 < port < 65536:
            raise SettingsError(f"--port {port} is not a TCP port", "use 1-65535, e.g. 50052")
        if threads is not None and threads < 1:
            raise SettingsError(f"--threads must be at least 1 (got {threads})")
        from localctx.services.rpc_serve import RpcServe

        srv = RpcServe(host, port, threads=threads, devices=[d.strip() for d in device.split(",")] if device else None,
                       cache_dir=cache_dir)
        srv.check()
        if not is_loopback(host):
            warn(SECURITY_WARNING.format(endpoint=srv.endpoint))
        for line in srv.describe():
            info(line)
        use = f"<this machine's address>:{port}" if host in ("0.0.0.0", "::") else srv.endpoint
        info(f"listening on {srv.endpoint} - use it with: --rpc {use}   (Ctrl-C stops)")
        if is_loopback(host):
            info(f"other machines: tunnel over SSH, e.g. {tunnel_hint(port)}")
        srv.run()
        info("rpc-server stopped")
        if srv.started:  # ggml's server thread is still blocked in accept(): end without waiting for it
            import os
            import sys

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
