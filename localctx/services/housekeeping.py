"""What piles up and how it goes: removing saved sessions with the KV states only they used, and the
checkpoints of summaries (listed and cleared beside the KV states).

A KV state is keyed by content (model bytes, KV-shaping settings, n_ctx, the document prefix's tokens),
not by session: two chats over the same file with the same model share one state, and `ask`, `serve`
and the TUI read and write the same ones.  So a state goes with a session only when the session is
recognisably its user (same model file name, same documents in the same order, same n_ctx and K/V
types) and nothing else still is: no other saved session matches it, and it was not used after the
last turn of the sessions being removed (a later use was `ask`, `serve` or a chat that saved no turn:
a document cache something still reads).  A state that cannot be told apart stays; `localctx cache
clear` removes every state.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.errors import LocalctxError
from localctx.services.state_cache import CacheEntry, StateCache
from localctx.store import Session, Store

#: a state touched this long after a session's last turn was used by something else
_LATER_USE_SLACK_S = 1.0


@dataclass(frozen=True)
class KeptState:
    key: str
    size: int
    why: str  # "another session uses it" or "used after these sessions' last turn"


@dataclass
class SessionRemoval:
    """The sessions to remove and the KV states that go with them (``dry_run``: what would go)."""

    sessions: list[Session]
    states: list[CacheEntry] = field(default_factory=list)
    kept: list[KeptState] = field(default_factory=list)
    text_bytes: int = 0  # turns and document texts no other session keeps
    dry_run: bool = False

    @property
    def state_bytes(self) -> int:
        return sum(e.size for e in self.states)

    @property
    def freed_bytes(self) -> int:
        return self.state_bytes + self.text_bytes

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run,
                "sessions": [{"id": s.id, "model": s.model, "updated_at": s.updated_at, "turns": s.n_turns,
                              "title": s.title, "documents": [d.name for d in s.documents]} for s in self.sessions],
                "states_removed": [{"key": e.key, "size": e.size, "documents": e.documents} for e in self.states],
                "states_kept": [{"key": k.key, "size": k.size, "why": k.why} for k in self.kept],
                "state_bytes": self.state_bytes, "session_bytes": self.text_bytes, "freed_bytes": self.freed_bytes}


def uses_state(session: Session, entry: CacheEntry) -> bool:
    """Whether ``entry`` is the KV state of ``session``'s documents (as far as the header tells)."""
    if not session.documents or Path(entry.model).name != Path(session.model).name:
        return False
    if list(entry.documents) != [d.name for d in session.documents]:
        return False
    settings = session.settings
    if isinstance(settings.get("n_ctx"), int) and settings["n_ctx"] != entry.n_ctx:
        return False
    return all(settings.get(k) in (None, entry.fingerprint.get(k)) for k in ("type_k", "type_v")
               if entry.fingerprint.get(k) is not None)


def resolve_sessions(store: Store, refs: Sequence[str]) -> list[Session]:
    """Every reference (an id or a unique id prefix) to its session, or one error naming each that
    does not resolve: then nothing is removed (a mistyped prefix never takes the others with it)."""
    found: dict[str, Session] = {}
    unknown: list[str] = []
    ambiguous: list[str] = []
    for ref in dict.fromkeys(refs):
        ids = store.matching_ids(ref)
        if len(ids) == 1:
            found.setdefault(ids[0], store.session(ids[0]))
        elif ids:
            ambiguous.append(f"'{ref}' matches {len(ids)} sessions")
        else:
            unknown.append(f"'{ref}'")
    if unknown or ambiguous:
        said = ([f"no session {', '.join(unknown)}"] if unknown else []) + ambiguous
        raise LocalctxError(f"{'; '.join(said)}; nothing was removed",
                            "give more characters of the id" if ambiguous and not unknown
                            else "see `localctx sessions` for the saved sessions")
    return list(found.values())


def plan_removal(store: Store, sessions: Sequence[Session], cache: StateCache | None = None,
                 *, dry_run: bool = False) -> SessionRemoval:
    """Which KV states go with ``sessions`` and which stay (and why); nothing is deleted yet."""
    cache = cache or StateCache()
    going = {s.id for s in sessions}
    others = [s for s in store.sessions() if s.id not in going]
    plan = SessionRemoval(list(sessions), dry_run=dry_run,
                          text_bytes=store.delete_sessions([s.id for s in sessions], dry_run=True))
    for entry in cache.entries():
        users = [s for s in sessions if uses_state(s, entry)]
        if not users:
            continue
        if any(uses_state(s, entry) for s in others):
            plan.kept.append(KeptState(entry.key, entry.size, "another session uses it"))
        elif entry.last_used > max(s.updated_at for s in users) + _LATER_USE_SLACK_S:
            plan.kept.append(KeptState(entry.key, entry.size, "used after these sessions' last turn"))
        else:
            plan.states.append(entry)
    return plan


def remove_sessions(store: Store, plan: SessionRemoval, cache: StateCache | None = None) -> SessionRemoval:
    """Delete the planned sessions (one transaction), then their KV states."""
    if plan.dry_run:
        return plan
    cache = cache or StateCache()
    plan.text_bytes = store.delete_sessions([s.id for s in plan.sessions])
    for entry in plan.states:
        cache.remove(entry.key)
    return plan


# ---- summary checkpoints ---------------------------------------------------------------------
@dataclass(frozen=True)
class SummaryCheckpointInfo:
    """One resumable summary: what file and model it belongs to and how far it got."""

    path: Path
    size: int
    modified: float
    source: str  # the summarized file's path ("" for a checkpoint written before it was recorded)
    file_sha256: str
    model: str
    n_ctx: int | None
    steps_done: int
    complete: bool  # the final summary is in it (a rerun only reads it back)
    readable: bool = True

    @property
    def name(self) -> str:
        if not self.readable:
            return "(unreadable: started over on the next run)"
        return Path(self.source).name if self.source else f"sha256 {self.file_sha256[:12]}"

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "size": self.size, "modified": self.modified, "source": self.source,
                "file_sha256": self.file_sha256, "model": self.model, "n_ctx": self.n_ctx,
                "steps_done": self.steps_done, "complete": self.complete, "readable": self.readable}


def _checkpoint_info(path: Path) -> SummaryCheckpointInfo | None:
    try:
        st = path.stat()
    except OSError:  # removed meanwhile
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
        key, steps = data["key"], data["steps"]
        engine = key.get("engine") or {}
        source = data.get("source") or ""
        return SummaryCheckpointInfo(path, st.st_size, st.st_mtime, source if isinstance(source, str) else "",
                                     str(key.get("file", "")), str(engine.get("model", "")),
                                     engine.get("n_ctx") if isinstance(engine.get("n_ctx"), int) else None,
                                     len(steps), "single" in steps or "final" in steps)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return SummaryCheckpointInfo(path, st.st_size, st.st_mtime, "", "", "", None, 0, False, readable=False)


def summary_checkpoints() -> list[SummaryCheckpointInfo]:
    """The summary checkpoints on disk, most recently written first (unreadable ones included:
    they take room too, and the next run of their summary starts over)."""
    root = paths.summaries_dir()
    found = [_checkpoint_info(p) for p in root.glob("*.json") if p.is_file()] if root.is_dir() else []
    return sorted((c for c in found if c is not None), key=lambda c: c.modified, reverse=True)


def clear_summary_checkpoints() -> tuple[int, int]:
    """Delete every summary checkpoint (and temporary files of writes that were cut off); returns
    (checkpoints removed, bytes freed).  A summary running meanwhile writes its next step again."""
    root = paths.summaries_dir()
    if not root.is_dir():
        return 0, 0
    n, freed = 0, 0
    for p in list(root.iterdir()):
        if not p.is_file() or p.suffix not in (".json", ".tmp"):
            continue
        with contextlib.suppress(OSError):
            size = p.stat().st_size
            p.unlink()
            freed += size
            n += p.suffix == ".json"
    return n, freed


def age_cutoff(seconds: float, now: float | None = None) -> float:
    """The time before which a session counts as older than ``seconds``."""
    return (time.time() if now is None else now) - seconds
