"""The app's one loaded model and the one thread that touches it (shared by Chat and Summarize).

One engine, not one per screen: a 7B model at a long context costs gigabytes, and two copies could
push a machine the Plan screen said was fine into swap.  Everything that uses the engine, or a chat
session's SQLite store (which refuses use from a second thread), runs on ``executor``; screens
``await host.run(fn)`` from async workers.  Textual's own thread workers come from a shared pool
(any thread), which is why they are not used for this.

Loading goes through the load gate (services.runtime: ``make_plan`` then ``load_planned``), the same
one the CLI uses: a context that does not fit is refused before llama.cpp allocates anything, with the
gate's one line, and ``LoadRefused.largest`` is the context the screens offer instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from localctx.core.flags import RuntimeFlags
from localctx.core.settings import RuntimeSettings
from localctx.errors import InsufficientMemoryError
from localctx.services.machine import MachineMemory


class LoadRefused(InsufficientMemoryError):
    """The gate's refusal, its ways out worded with what the TUI offers (the dialog's buttons and the
    Plan screen's fields, no command-line flags), and the largest context that fits (0: none does)."""

    def __init__(self, refusal: Any) -> None:
        ways = [f"the largest context that fits with these settings is {refusal.largest:,}" if refusal.largest
                else "not even 256 tokens fit with these settings"]
        if refusal.kv_type:
            ways.append(f"K and V cache {refusal.kv_type} with flash attention on (set in Plan) would make "
                        f"{refusal.n_ctx:,} fit")
        super().__init__(refusal.message, refusal.need, refusal.usable, "; ".join(ways))
        self.n_ctx, self.largest = refusal.n_ctx, refusal.largest


class EngineHost:
    def __init__(self, machine: MachineMemory | None = None) -> None:
        self.engine: Any = None  # a LlamaEngine from services.runtime.load_planned
        self.plan: Any = None  # the services.runtime.RunPlan it was loaded with
        self.key: tuple[str, RuntimeFlags] | None = None  # (model, flags) it was loaded for; None: saved settings
        #: the machine the gate judges against; None: free memory is read at each load (what is free now)
        self.machine = machine
        self._ident: tuple[str, str] | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localctx-engine")
        self.on_close: list[Callable[[], None]] = []  # run (on the engine thread) before the engine closes

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the engine thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def engine_for(self, model: str, settings: RuntimeSettings | None = None,
                   flags: RuntimeFlags | None = None) -> Any:
        """The loaded engine when it matches, else load it through the gate (closing the old one first,
        so the verdict counts the memory it frees).  Engine thread only.

        Raises LoadRefused when the plan does not fit; anything else the gate raises (bad model, bad
        settings, llama.cpp's own refusal) as it is."""
        from localctx.services.runtime import load_planned, make_plan, refusal

        ident = (model, repr(settings) if settings is not None else repr(flags))
        if self.engine is not None and self._ident == ident:
            return self.engine
        self.close()
        rp = make_plan(model, flags, settings=settings, machine=self.machine)
        refused = refusal(rp)
        if refused is not None:
            raise LoadRefused(refused)
        self.engine = load_planned(rp, force=True)  # judged just above
        self.plan = rp
        self._ident = ident
        self.key = (model, flags) if settings is None and flags is not None else None
        return self.engine

    def close(self) -> None:
        for hook in self.on_close:
            hook()
        if self.engine is not None:
            self.engine.close()
        self.engine, self.plan, self.key, self._ident = None, None, None, None

    def shutdown(self) -> None:
        """Close after any work in flight finishes, on the engine thread, without blocking the UI."""
        self.executor.submit(self.close)
        self.executor.shutdown(wait=False)
