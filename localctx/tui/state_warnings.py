"""Services say a kept file was unusable and skipped (``StateWarning``: a damaged registry, a calibration
or KV state that could not be read or written) through Python's warnings; the CLI prints them as lines.
Inside the terminal UI a line on stderr is lost under the screen (or drawn over it), so while the app
runs they become warning notifications instead, from whichever thread warned (screens' workers, the
engine thread)."""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any, cast

from textual import events
from textual.app import App

from localctx.errors import StateWarning

TIMEOUT = 10.0  # seconds the notification stays up: it names a file and what to do about it


class StateWarningRoute:
    """``start()`` on mount, ``stop()`` on unmount: between them each StateWarning is one notification
    (said once per place and text, as the CLI says it once); other warnings go where they went."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self._previous: Any = None
        self._filters: list[Any] | None = None

    def start(self) -> None:
        self._previous = warnings.showwarning
        self._filters = list(warnings.filters)
        warnings.filterwarnings("default", category=StateWarning)
        warnings.showwarning = self._show

    def stop(self) -> None:
        if self._filters is None:
            return
        if warnings.showwarning == self._show:
            warnings.showwarning = self._previous
        cast("list[Any]", warnings.filters)[:] = self._filters
        warnings._filters_mutated()  # type: ignore[attr-defined]  # as catch_warnings does on exit
        self._filters = None

    def _show(self, message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if not issubclass(category, StateWarning):
            self._previous(message, category, *args, **kwargs)
            return
        notify = partial(self.app.notify, str(message), title="skipped a kept file", severity="warning",
                         timeout=TIMEOUT, markup=False)
        # post_message is thread-safe and does not wait: the warning may come from a worker or the engine thread
        self.app.post_message(events.Callback(callback=notify))
