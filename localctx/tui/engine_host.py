"""The app's one loaded model and the one thread that touches it (shared by Chat and Summarize).

One engine, not one per screen: a 7B model at a long context costs gigabytes, and two copies could
push a machine the Plan screen said was fine into swap.  Everything that uses the engine, or a chat
session's SQLite store (which refuses use from a second thread), runs on ``executor``; screens
``await host.run(fn)`` from async workers.  Textual's own thread workers come from a shared pool
(any thread), which is why they are not used for this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from localctx.core.flags import RuntimeFlags
from localctx.core.settings import RuntimeSettings


class EngineHost:
    def __init__(self) -> None:
        self.engine: Any = None  # a LlamaEngine from services.runtime.load_engine
        self.key: tuple[str, RuntimeFlags] | None = None  # (model, flags) it was loaded for; None: saved settings
        self._ident: tuple[str, str] | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localctx-engine")
        self.on_close: list[Callable[[], None]] = []  # run (on the engine thread) before the engine closes

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the engine thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def engine_for(self, model: str, settings: RuntimeSettings | None = None,
                   flags: RuntimeFlags | None = None) -> Any:
        """The loaded engine when it matches, else load it (closing the old one).  Engine thread only."""
        from localctx.services.runtime import load_engine

        ident = (model, repr(settings) if settings is not None else repr(flags))
        if self.engine is not None and self._ident == ident:
            return self.engine
        self.close()
        self.engine = load_engine(model, settings, flags=flags)
        self._ident = ident
        self.key = (model, flags) if settings is None and flags is not None else None
        return self.engine

    def close(self) -> None:
        for hook in self.on_close:
            hook()
        if self.engine is not None:
            self.engine.close()
        self.engine, self.key, self._ident = None, None, None

    def shutdown(self) -> None:
        """Close after any work in flight finishes, on the engine thread, without blocking the UI."""
        self.executor.submit(self.close)
        self.executor.shutdown(wait=False)
