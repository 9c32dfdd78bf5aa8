"""The four screens (app modes): Models, Plan, Chat, Summarize."""

from localctx.tui.screens.chat import ChatScreen
from localctx.tui.screens.models import ModelsScreen
from localctx.tui.screens.plan import PlanScreen
from localctx.tui.screens.summarize import SummarizeScreen

__all__ = ["ChatScreen", "ModelsScreen", "PlanScreen", "SummarizeScreen"]
