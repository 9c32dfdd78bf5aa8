"""Where a Save dialog writes: checked before anything is written (the CLI's own check, so `--out`,
`/save` and the TUI say the same thing), and every failure one line."""

from __future__ import annotations

from pathlib import Path

from localctx.core.outpath import check_output_path
from localctx.errors import LocalctxError


def check_save_path(text: str) -> Path:
    """The file ``text`` names, if it can be written: an existing, writable folder and not a directory.

    Raises LocalctxError (a notification in one line), so a typo in the folder never surfaces as a raw
    FileNotFoundError after the work was done."""
    return check_output_path(text.strip(), flag="save to")


def write_failed(path: Path, exc: OSError) -> LocalctxError:
    """An OSError while writing, as the one-line error a notification shows."""
    return LocalctxError(f"cannot save to {path}: {exc.strerror or exc}", "choose another file or folder")
