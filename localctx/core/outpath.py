"""Where a command will write its output, checked before any work starts.

A summary that runs for an hour and then cannot be written, or a chat that dies on ``/save`` to a
missing folder, loses work for a typo.  ``check_output_path`` says what is wrong in one line
(exit 2) while nothing has been computed yet.
"""

from __future__ import annotations

import os
from pathlib import Path

from localctx.errors import LocalctxError


def check_output_path(path: Path | str, *, flag: str = "--out") -> Path:
    """``path`` if a file can be written there: its folder exists and is writable, and it is not a
    folder itself (an existing file is replaced).  Raises LocalctxError otherwise."""
    p = Path(path).expanduser()
    if str(path).strip() == "":
        raise LocalctxError(f"{flag}: no file name given", "give a file path such as notes.md")
    if p.is_dir():
        raise LocalctxError(f"{flag} {p}: is a directory", f"give a file name inside it, e.g. {p / 'out.md'}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise LocalctxError(f"{flag} {p}: the folder {parent} does not exist", f"create it first: mkdir -p {parent}")
    if not parent.is_dir():
        raise LocalctxError(f"{flag} {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise LocalctxError(f"{flag} {p}: not writable", "choose a folder you can write to")
    return p
