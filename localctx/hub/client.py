"""Hugging Face Hub downloads and remote headers: the call sites' one entry point.

``from localctx.hub import client as hub`` then ``hub.pull(...)``, ``hub.list_quants(...)``,
``hub.read_remote_header(...)``.  The work is done in session.py (configuration read at call time, the
error vocabulary), cache.py (the shared cache layout, verification by sha256 / git SHA-1), download.py
(resumable downloads with a stall watchdog), pull.py and remote.py; only those import huggingface_hub,
and only when called.
"""

from __future__ import annotations

from localctx.errors import HubError
from localctx.hub.cache import PullProgress, PullResult, UnverifiableError, cached_listing, resolve_cached
from localctx.hub.pull import ProgressFn, list_quants, pull
from localctx.hub.remote import merge_shard_headers, model_info_remote, read_remote_header
from localctx.hub.select import (
    DEFAULT_REVISION,
    GGUFChoice,
    HubFile,
    HubRef,
    QuantNotFoundError,
    RepoListing,
    choose,
    parse_ref,
)
from localctx.hub.session import HubConfig, debug_log_path, hub_config

__all__ = [
    "DEFAULT_REVISION", "GGUFChoice", "HubConfig", "HubError", "HubFile", "HubRef", "ProgressFn", "PullProgress",
    "PullResult", "QuantNotFoundError", "RepoListing", "UnverifiableError", "cached_listing", "choose",
    "debug_log_path", "hub_config", "list_quants", "merge_shard_headers", "model_info_remote", "parse_ref", "pull",
    "read_remote_header", "resolve_cached",
]
