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
    """The gate's refusal, plus the largest context that fits with the same settings (0: none does)."""

    def __init__(self, error: InsufficientMemoryError, n_ctx: int, largest: int) -> None:
        super().__init__(error.message, error.required_bytes, error.available_bytes, error.hint)
        self.n_ctx, self.largest = n_ctx, largest


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
        from localctx.services.runtime import check_fits, load_planned, make_plan, ways_out

        ident = (model, repr(settings) if settings is not None else repr(flags))
        if self.engine is not None and self._ident == ident:
            return self.engine
        self.close()
        rp = make_plan(model, flags, settings=settings, machine=self.machine)
        try:
            check_fits(rp)
        except InsufficientMemoryError as exc:
            raise LoadRefused(exc, rp.settings.n_ctx or 0, ways_out(rp)[0]) from None
        self.engine = load_planned(rp)
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
