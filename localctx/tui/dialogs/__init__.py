"""Modal dialogs: each is a ModalScreen[T] that hands its answer back through ``dismiss``."""

from localctx.tui.dialogs.file_picker import FilePicker
from localctx.tui.dialogs.fit import FitDialog
from localctx.tui.dialogs.overflow import OverflowChoice, OverflowDialog
from localctx.tui.dialogs.text_prompt import PullDialog, TextPrompt

__all__ = ["FilePicker", "FitDialog", "OverflowChoice", "OverflowDialog", "PullDialog", "TextPrompt"]
