"""Messages the Chat screen's workers post to it (handled as ``on_chat_screen_*``)."""

from __future__ import annotations

from textual.message import Message

from localctx.errors import ContextOverflowError


class Delta(Message, namespace="chat_screen"):
    """A piece of the streamed reply."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Ingesting(Message, namespace="chat_screen"):
    """Document tokens evaluated so far; a newer one replaces any still queued."""

    def __init__(self, done: int, total: int, eta: str = "") -> None:
        super().__init__()
        self.done, self.total = done, total
        self.eta = eta  # the expected time of the whole ingest, from the speed forecast ("" without one)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Ingesting)


class Finished(Message, namespace="chat_screen"):
    """The reply ended (``error``: why it failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        super().__init__()
        self.error = error


class Overflowed(Message, namespace="chat_screen"):
    """The documents (opening) or the conversation (a question) do not fit the context."""

    def __init__(self, error: ContextOverflowError, what: str, text: str = "", verdict: str = "") -> None:
        super().__init__()
        self.error, self.what, self.text, self.verdict = error, what, text, verdict
