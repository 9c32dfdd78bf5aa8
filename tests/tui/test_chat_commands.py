"""The Chat screen's command palette offers `localctx chat`'s in-chat commands (system prompt, add a
document, set a sampling value, show) at 80x24, through the same service functions: the conversation
goes on, a refusal is one notification, the next question's prompt holds what was added."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Input

from localctx.core.conversation import ChatOptions
from localctx.core.flags import RuntimeFlags
from localctx.core.sampling import CHAT_SAMPLING
from localctx.tui.app import make_app
from localctx.tui.dialogs import FilePicker, TextPrompt
from localctx.tui.widgets import Notice
from tests.tui._helpers import ask, cut_off, error_notifications, loaded, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = [pytest.mark.anyio, pytest.mark.model]
NARROW = (80, 24)
SYSTEM = "Answer in one short sentence."


def _notices(screen) -> list[str]:
    return [text_of(n, 200) for n in screen.query(Notice)]


async def _palette(pilot, query: str) -> None:
    """Open the palette, search ``query`` and run the first hit, as a user would."""
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), what="the palette")
    palette = pilot.app.screen
    palette.query_one(Input).value = query
    hits = palette.query_one(CommandList)
    await wait_until(pilot, lambda: hits.option_count >= 1, what=f"a hit for {query!r}")
    await pilot.press("enter")
    await wait_until(pilot, lambda: not isinstance(pilot.app.screen, CommandPalette), what="the palette to close")


async def _answer(pilot, dialog: type, text: str) -> None:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, dialog), what=f"the {dialog.__name__}")
    assert cut_off(pilot.app.screen) == []  # readable at 80 columns
    box = pilot.app.screen.query_one("#prompt-input" if dialog is TextPrompt else "#path", Input)
    box.value = text
    box.focus()
    await pilot.press("enter")


async def test_the_palette_sets_the_system_prompt_sampling_adds_a_document_and_shows(smollm2_path: Path,
                                                                                     tmp_path: Path) -> None:
    doc = tmp_path / "ledger.txt"
    doc.write_text("\n\n".join(f"In the year {1700 + i}, the archivist number {i} counted {17 + i * 11} letters."
                               for i in range(6)))
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048, threads=1),
                   mode="chat", chat_options=ChatOptions(reply_tokens=16, sampling=CHAT_SAMPLING))
    async with app.run_test(size=NARROW) as pilot:
        screen = await loaded(pilot)
        titles = [c.title for c in app.get_system_commands(screen)]
        assert {"Chat: set the system prompt", "Chat: add a document", "Chat: set a sampling value",
                "Chat: show plan, settings and budget"} <= set(titles)
        session = screen.session

        await _palette(pilot, "system prompt")
        await _answer(pilot, TextPrompt, SYSTEM)
        await wait_until(pilot, lambda: session.system == SYSTEM and screen.state == "idle", what="the system prompt")
        assert any(n.startswith("system prompt set: 6 tokens;") for n in _notices(screen))

        await _palette(pilot, "sampling value")
        await _answer(pilot, TextPrompt, "temp 0.6")
        await wait_until(pilot, lambda: session.sampling.temperature == 0.6, what="the temperature")
        assert app.chat_options.sampling.temperature == 0.6  # a reload keeps it
        await wait_until(pilot, lambda: screen.state == "idle", what="idle")
        await _palette(pilot, "sampling value")
        await _answer(pilot, TextPrompt, "top-k 1.5")
        await wait_until(pilot, lambda: error_notifications(app), what="the refusal")
        assert error_notifications(app) == ["/set top-k takes a whole number (got '1.5')"]
        assert session.sampling.top_k == 0 and screen.state == "idle"

        before = session.budget().documents
        await _palette(pilot, "add a document")
        await _answer(pilot, FilePicker, str(doc))
        await wait_until(pilot, lambda: [d.name for d in session.documents] == ["ledger.txt"]
                         and screen.state == "idle", timeout=120, what="the document")
        assert session.budget().documents > before + 100 and session.ingest_report is not None  # read already
        assert screen.session is session and "ledger.txt" in text_of(screen.query_one("#chat-docs"))
        assert any(n.startswith("ledger.txt added: ") for n in _notices(screen))

        await _palette(pilot, "show plan")
        await wait_until(pilot, lambda: any(n.startswith("model ") for n in _notices(screen)), what="/show")
        shown = next(n for n in _notices(screen) if n.startswith("model "))
        assert "--temp 0.6" in shown and f"system     {SYSTEM}" in shown and "documents  ledger.txt" in shown

        await wait_until(pilot, lambda: screen.state == "idle", what="idle")
        await ask(pilot, "Who counted 28 letters?")
        await wait_until(pilot, lambda: screen.state == "idle" and session.last_turn is not None, timeout=120,
                         what="the reply")
        assert session.last_turn.prompt_tokens > session.budget().documents > before + 100
        # the document was read before the question: only the turn's own tokens (reminder, passage, question)
        assert session.last_turn.evaluated_tokens <= session.last_turn.prompt_tokens - session.budget().documents + 1
