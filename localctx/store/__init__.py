"""Persistence: chat sessions in SQLite (see store.py) with named migrations (migrations.py)."""

from localctx.store.store import Document, Session, Store, StoreError, Turn, default_db_path

__all__ = ["Document", "Session", "Store", "StoreError", "Turn", "default_db_path"]
