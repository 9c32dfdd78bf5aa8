"""Where localctx keeps its state.  ``LOCALCTX_HOME`` relocates all of it (tests, portable installs).

Nothing here creates directories at import time; callers ask for a path and create it when writing.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path | None:
    v = os.environ.get("LOCALCTX_HOME")
    return Path(v).expanduser() if v else None


def _platform(kind: str) -> Path:
    import platformdirs

    fn = {"config": platformdirs.user_config_dir, "data": platformdirs.user_data_dir,
          "cache": platformdirs.user_cache_dir}[kind]
    return Path(fn("localctx", appauthor=False))


def config_dir() -> Path:
    h = home()
    return h / "config" if h else _platform("config")


def data_dir() -> Path:
    h = home()
    return h / "data" if h else _platform("data")


def cache_dir() -> Path:
    h = home()
    return h / "cache" if h else _platform("cache")


def models_dir() -> Path:
    """Models localctx assembles or stores itself (not the Hugging Face cache).

    ``LOCALCTX_MODELS_DIR`` overrides it alone (tests share one assembled gemma across homes)."""
    v = os.environ.get("LOCALCTX_MODELS_DIR")
    return Path(v).expanduser() if v else data_dir() / "models"


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
