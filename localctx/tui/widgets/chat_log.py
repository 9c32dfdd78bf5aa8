"""The conversation: user prompts as plain text, replies as Markdown streamed in place.

Streaming follows oterm's ``ChatItem`` (checked against textual 8.2): deltas go into a
``MarkdownStream`` so each token appends instead of re-parsing the whole reply; ``finish`` stops the
stream and renders the full text once, because partial blocks (an open code fence) can leave the
incremental parser in a state a clean parse would not produce.
"""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream


class UserMessage(Static):
    """One prompt the user sent."""


class Notice(Static):
    """Something the service did that the user must see (a trim, a rebuilt cache, a stop)."""


class ReplyMessage(Markdown):
    """One assistant reply, fed by deltas while it streams."""

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(text, **kwargs)
        self.text = text
        self.pieces = 0  # deltas received: more than one means the reply was streamed, not dumped
        self._stream: MarkdownStream | None = None

    async def add(self, delta: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self)
        self.text += delta
        self.pieces += 1
        await self._stream.write(delta)

    async def finish(self, suffix: str = "") -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.text += suffix
        await self.update(self.text)


class ChatLog(VerticalScroll):
    """Holds the messages; follows the newest one only while the user is at the bottom."""

    DEFAULT_CSS = """
    ChatLog { height: 1fr; }
    ChatLog UserMessage { margin: 1 0 0 0; padding: 0 1; background: $boost; }
    ChatLog ReplyMessage { margin: 0; padding: 0 1; }
    ChatLog Notice { color: $warning; padding: 0 1; }
    """

    def _near_bottom(self) -> bool:
        return self.max_scroll_y - self.scroll_y <= 2

    async def add_user(self, text: str) -> UserMessage:
        item = UserMessage(text, markup=False)
        await self.mount(item)
        self.scroll_end(animate=False)
        return item

    async def add_reply(self, text: str = "") -> ReplyMessage:
        item = ReplyMessage(text)
        await self.mount(item)
        self.scroll_end(animate=False)
        return item

    async def add_notice(self, text: str) -> Notice:
        item = Notice(text, markup=False)
        await self.mount(item)
        self.scroll_end(animate=False)
        return item

    async def append_delta(self, reply: ReplyMessage, delta: str) -> None:
        follow = self._near_bottom()
        await reply.add(delta)
        if follow:
            self.scroll_end(animate=False)

    @property
    def replies(self) -> list[ReplyMessage]:
        return list(self.query(ReplyMessage))
