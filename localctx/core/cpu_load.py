"""Whether this machine's cores are free for llama.cpp's threads, judged from the load average.

llama.cpp's threads wait for each other at every step of the graph by spinning, so one thread that
loses its core to other work stalls all of them: on a 2-core machine with one core's worth of other
work, two threads run many times slower than one (a 3 s run took over a minute).  Its default of one
thread per core is right only on a quiet machine, and a speed forecast measured on free cores holds
only while they are free.  This module says so, from numbers a service reads (the 1-minute load
average, the cores this process may use, the thread count a load would get); front ends show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CpuLoad:
    """The load average against the cores, for a run with ``threads`` llama.cpp threads."""

    load_1m: float  # runnable processes, averaged over the last minute (all of this machine's work)
    cores: int  # the cores this process may run on
    threads: int  # the threads the run gets
    threads_given: bool  # from -t (or saved settings); False: the default, one per core

    @property
    def spare_cores(self) -> int:
        """Cores the other work leaves free (the load average rounded to whole cores)."""
        return max(0, self.cores - int(self.load_1m + 0.5))

    @property
    def saturated(self) -> bool:
        """Other work keeps every core busy (load average at or above the cores): any run is slowed."""
        return self.spare_cores == 0

    @property
    def oversubscribed(self) -> bool:
        """More threads than spare cores: the threads compete with that work and stall each other."""
        return self.threads > max(1, self.spare_cores)

    @property
    def busy(self) -> bool:
        return self.saturated or self.oversubscribed

    @property
    def suggested_threads(self) -> int:
        """The threads that fit the spare cores (at least one)."""
        return max(1, min(self.threads, self.spare_cores))

    @property
    def load_text(self) -> str:
        return f"load average {self.load_1m:.2f} on {self.cores} core{'s' if self.cores != 1 else ''}"

    @property
    def threads_text(self) -> str:
        """``2 (the default: one per core)`` or ``1 (-t)``."""
        return f"{self.threads} (-t)" if self.threads_given else f"{self.threads} (the default: one per core)"

    def notice(self) -> str | None:
        """One line when the machine is busy for this run (None when its cores are free for it)."""
        if not self.busy:
            return None
        spare = f"~{self.spare_cores} spare" if self.spare_cores else "no spare core"
        head = f"this machine is busy ({self.load_text}, {spare})"
        if self.oversubscribed:
            who = (f"-t {self.threads}" if self.threads_given
                   else f"the default of {self.threads} threads (one per core)")
            return (f"{head}: {who} competes with that work and can run many times slower; "
                    f"-t {self.suggested_threads} is faster now")
        return f"{head}: every thread shares its core with other work, so runs are slower than when it is quiet"

    def forecast_note(self) -> str | None:
        """What a speed forecast (measured on free cores) must add while the machine is busy."""
        if not self.busy:
            return None
        return f"measured on free cores, expect it slower now: {self.notice()}"

    def to_json(self) -> dict[str, Any]:
        return {"load_1m": round(self.load_1m, 2), "cores": self.cores, "threads": self.threads,
                "threads_given": self.threads_given, "spare_cores": self.spare_cores, "busy": self.busy,
                "suggested_threads": self.suggested_threads, "notice": self.notice()}
