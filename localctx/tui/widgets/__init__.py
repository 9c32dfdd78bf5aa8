"""Reusable widgets: they render what screens hand them and compute nothing themselves."""

from localctx.tui.widgets.chat_log import ChatLog, Notice, ReplyMessage, UserMessage
from localctx.tui.widgets.memory_gauge import GaugeRow, MemoryGauge, gauge_rows
from localctx.tui.widgets.token_meter import TokenMeter

__all__ = ["ChatLog", "GaugeRow", "MemoryGauge", "gauge_rows", "Notice", "ReplyMessage", "TokenMeter", "UserMessage"]
