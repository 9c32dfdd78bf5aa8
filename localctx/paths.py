"""Where localctx keeps its state.  ``LOCALCTX_HOME`` relocates all of it (tests, portable installs).

Nothing here creates directories at import time; callers ask for a path and create it when writing.
Every file localctx writes and may read back is named here, and listed in ``KEPT``: code asks these
functions for its paths, and the corrupt-state test (tests/test_corrupt_state.py) damages each kind in
``KEPT`` and runs the commands that read it, so a new kind of file cannot be added without that check.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
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


# ---- the files localctx keeps ----------------------------------------------------------------------
def registry_file() -> Path:
    """Models registered with ``localctx models add`` (TOML)."""
    return config_dir() / "models.toml"


def registry_lock() -> Path:
    """Held while the registry is read, changed and rewritten (its content is irrelevant)."""
    return config_dir() / "models.toml.lock"


def settings_file() -> Path:
    """Per-model runtime settings (``plan --save``; TOML)."""
    return config_dir() / "settings.toml"


def session_db() -> Path:
    """Chat sessions and their turns (SQLite, WAL)."""
    return data_dir() / "localctx.db"


def forecast_dir() -> Path:
    """Calibrations (``bench``) and kernel probes, one folder per machine and speed settings (JSON)."""
    return data_dir() / "forecast"


def evals_dir() -> Path:
    """Results of ``localctx eval`` (JSON, one file per run)."""
    return data_dir() / "evals"


def fingerprint_index() -> Path:
    """Model file fingerprints by path, size and mtime (JSON): saves re-reading a model file."""
    return cache_dir() / "model_fingerprints.json"


def summaries_dir() -> Path:
    """Checkpoints of summaries in progress (JSON, one per summary)."""
    return cache_dir() / "summaries"


def kv_states_dir() -> Path:
    """Saved KV states of ingested documents (llama.cpp state files with JSON headers)."""
    return cache_dir() / "kv-states"


def hub_verified_dir() -> Path:
    """Markers of downloaded files already hash-checked (size and mtime, one per hash)."""
    return cache_dir() / "hub-verified"


def hub_debug_log() -> Path:
    """huggingface_hub's own log lines (appended; never read back by localctx)."""
    return cache_dir() / "logs" / "hub-debug.log"


@dataclass(frozen=True)
class Kept:
    """One kind of file localctx keeps: ``locate()`` gives the file itself, or with a ``pattern`` the
    folder holding a family of them; ``holds`` says what is in it (toml, json, sqlite, kvstate,
    marker, log, lock, gguf)."""

    name: str
    locate: Callable[[], Path]
    holds: str
    pattern: str = ""

    def files(self) -> list[Path]:
        """The ones present now (a directory where a file should be counts: it is damage too)."""
        where = self.locate()
        if not self.pattern:
            return [where] if where.exists() else []
        return sorted(where.glob(self.pattern)) if where.is_dir() else []


KEPT: tuple[Kept, ...] = (
    Kept("model registry", registry_file, "toml"),
    Kept("model registry lock", registry_lock, "lock"),
    Kept("runtime settings", settings_file, "toml"),
    Kept("session store", session_db, "sqlite"),
    Kept("speed calibrations", forecast_dir, "json", "*/*.json"),
    Kept("eval results", evals_dir, "json", "*.json"),
    Kept("model fingerprints", fingerprint_index, "json"),
    Kept("summary checkpoints", summaries_dir, "json", "*.json"),
    Kept("KV states", kv_states_dir, "kvstate", "*.kvstate"),
    Kept("KV state headers", kv_states_dir, "json", "*.kvmeta"),
    Kept("verified downloads", hub_verified_dir, "marker", "*"),
    Kept("Hub debug log", hub_debug_log, "log"),
    Kept("assembled models", models_dir, "gguf", "*.gguf"),
    Kept("model assembly locks", models_dir, "lock", "*.lock"),
)
