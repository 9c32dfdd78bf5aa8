"""The saved chat sessions, most recent first: the first question, then (dim) turns and the id that
`localctx chat --resume` takes.  Reading the store runs in a thread worker; a failure is a notification."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import getters, work
from textual.widgets import Label, ListItem, ListView

if TYPE_CHECKING:
    from localctx.tui.app import LocalctxApp


class SessionItem(ListItem):
    def __init__(self, session_id: str, title: str, detail: str) -> None:
        super().__init__(Label(Text.assemble(title, "\n", (detail, "dim")), markup=False))
        self.session_id = session_id


class SessionList(ListView):
    if TYPE_CHECKING:  # the app as LocalctxApp for the type checker (Textual types it as a plain App)
        app = getters.app(LocalctxApp)

    def reload(self) -> None:
        """Read the store again (after a turn was saved)."""
        self._read()

    @work(thread=True, exclusive=True, group="session-list")
    def _read(self) -> None:
        from localctx.store import Store

        try:
            with Store() as store:
                rows = [(s.id, s.title or "(no question yet)", f"{s.n_turns} turn{'s' * (s.n_turns != 1)} · {s.id}")
                        for s in store.sessions(limit=50)]
        except Exception as exc:  # noqa: BLE001 - an unreadable store is a notification
            self.app.call_from_thread(self.app.report, exc, "sessions")
            return
        self.app.call_from_thread(self._show, rows)  # type: ignore[arg-type]  # textual types it Awaitable[Never]

    async def _show(self, rows: list[tuple[str, str, str]]) -> None:
        await self.clear()
        await self.extend([SessionItem(*row) for row in rows])
