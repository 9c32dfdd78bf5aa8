"""`localctx doctor`: backends, CPU features, RAM and VRAM, and how to fix a missing GPU backend."""

from __future__ import annotations

from typing import Annotated

import typer

from localctx.cli._options import JsonOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(json: JsonOpt = False, rpc: Annotated[str | None, typer.Option(
            "--rpc", help="Also check these RPC servers: HOST:PORT[,...] (reachable, protocol, memory).")] = None,
               ) -> None:
        """Check what this install can run on: llama.cpp backends, CPU, RAM, GPUs and free VRAM."""
        from localctx.cli._output import emit_json, human_bytes, stdout, warn
        from localctx.core.flags import parse_rpc
        from localctx.services.doctor import diagnose

        rep = diagnose(rpc_endpoints=tuple(parse_rpc(rpc).split(",")) if rpc else ())
        unusable = any(not srv["ok"] for srv in rep.rpc_servers)  # exit 1: a script can rely on it
        if json:
            emit_json(rep.to_json())
            if unusable:
                raise typer.Exit(1)
            return
        from localctx.cli._tables import pairs

        t = pairs("localctx doctor")
        m = rep.memory
        t.add_row("python / platform", f"{rep.python} on {rep.platform}")
        t.add_row("llama-cpp-python", rep.llama_cpp_python or "not installed")
        t.add_row("llama.cpp backends", ", ".join(rep.backends) or "-")
        t.add_row("GPU offload", rep.offload_line())
        t.add_row("RPC (other machines)", "yes: `localctx rpc-server` there, --rpc HOST:PORT here" if rep.rpc
                  else "no: this llama.cpp was built without -DGGML_RPC=on")
        for srv in rep.rpc_servers:
            if srv["ok"]:
                mem = "; ".join(f"device {d['index']}: {human_bytes(d['free'])} free of {human_bytes(d['total'])}"
                                for d in srv["devices"])
                t.add_row(f"RPC {srv['endpoint']}", f"reachable, protocol {srv['protocol']}; {mem}")
            else:
                t.add_row(f"RPC {srv['endpoint']}", "[red]not usable[/] (see below)")
        for d in rep.devices:
            mem = f", {human_bytes(d['free'])} free of {human_bytes(d['total'])}" if d.get("total") else ""
            t.add_row(f"device {d['name']}", f"{d['description']}{mem}")
        t.add_row("CPU features", " ".join(rep.cpu_features) or "-")
        if (cpu := rep.cpu_load) is not None:
            t.add_row("CPU load", f"{cpu.load_text}; llama.cpp threads {cpu.threads_text}"
                      + ("" if cpu.busy else ", the cores are free for them"))
        if rep.cpu_weights:
            t.add_row("CPU weight path", f"{rep.cpu_weights['path']}: {rep.cpu_weights['reason']}")
        t.add_row("RAM", f"{human_bytes(m.ram_available)} available of {human_bytes(m.ram_total)}")
        for g in m.gpus:
            t.add_row(f"GPU {g.index}", f"{g.name} ({g.backend}): {human_bytes(g.free_bytes)} free of "
                                       f"{human_bytes(g.total_bytes)}")
        if not m.gpus:
            t.add_row("GPUs", "none found (nvidia-smi absent or no GPU; not Apple Silicon)")
        stdout.print(t)
        for p in rep.problems:
            warn(p)
        if rep.cpu_load is not None and (busy := rep.cpu_load.notice()):
            warn(busy)
        for f in rep.fixes:
            stdout.print(f"fix: [bold]{f}[/]")
        for n in m.notes:
            stdout.print(f"[dim]{n}[/]")
        if unusable:
            raise typer.Exit(1)
