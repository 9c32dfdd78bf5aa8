"""The Hugging Face cache layout a `localctx pull` leaves (refs/main -> snapshots/COMMIT -> file), made by
hand for tests that need a pulled model without a download."""

from __future__ import annotations

import os
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def pulled_into_cache(repo: str, target: Path, filename: str | None = None) -> Path:
    """``target`` as the file ``filename`` (default: its own name) of ``repo`` in ``$HF_HOME``'s cache."""
    storage = Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(COMMIT)
    snap = storage / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap / (filename or target.name)).symlink_to(target)
    return snap / (filename or target.name)
