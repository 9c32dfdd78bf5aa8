"""Where a Save dialog writes: checked before anything is written, and every failure one line."""

from __future__ import annotations

import os
from pathlib import Path

from localctx.errors import LocalctxError


def check_save_path(text: str) -> Path:
    """The file ``text`` names, if it can be written: an existing, writable folder and not a directory.

    Raises LocalctxError (a notification in one line), so a typo in the folder never surfaces as a raw
    FileNotFoundError after the work was done."""
    path = Path(text.strip()).expanduser()
    if path.is_dir():
        raise LocalctxError(f"cannot save to {path}: it is a directory", "add a file name, e.g. notes.md")
    folder = path.parent
    if not folder.is_dir():
        raise LocalctxError(f"cannot save to {path}: the folder {folder} does not exist",
                            "create it first or choose another folder")
    if not os.access(folder, os.W_OK):
        raise LocalctxError(f"cannot save to {path}: the folder {folder} is not writable", "choose another folder")
    return path


def write_failed(path: Path, exc: OSError) -> LocalctxError:
    """An OSError while writing, as the one-line error a notification shows."""
    return LocalctxError(f"cannot save to {path}: {exc.strerror or exc}", "choose another file or folder")
