"""The checkpoint of one summary: finished steps on disk, so an interrupted summary resumes.

Keyed by the file, the engine's identity (model file, layout, RoPE values, KV types), the options and
the prompt version; each step is kept with a hash of its exact input, so a changed chunk is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from localctx import paths
from localctx.engine.base import Engine

if TYPE_CHECKING:
    from localctx.services.summarize import Step


class Checkpoint:
    """Finished steps of one summary, written atomically after each step (JSON under cache_dir)."""

    def __init__(self, key: dict[str, Any], fresh: bool) -> None:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
        self.path = paths.cache_dir() / "summaries" / f"{digest}.json"
        self.key = key
        self.steps: dict[str, dict[str, Any]] = {}
        if not fresh and self.path.exists():
            try:
                data = json.loads(self.path.read_text("utf-8"))
                if data.get("key") == json.loads(json.dumps(key, default=str)):
                    self.steps = dict(data.get("steps", {}))
            except (OSError, ValueError):
                self.steps = {}  # a torn or foreign file: start over rather than fail

    def get(self, step_id: str, input_hash: str) -> dict[str, Any] | None:
        rec = self.steps.get(step_id)
        return rec if rec is not None and rec.get("input") == input_hash else None

    def put(self, step_id: str, input_hash: str, step: Step) -> None:
        self.steps[step_id] = {"input": input_hash, "summary": step.summary, "prompt_tokens": step.prompt_tokens,
                               "output_tokens": step.output_tokens, "evaluated_tokens": step.evaluated_tokens,
                               "seconds": step.seconds, "stop_reason": step.stop_reason}
        paths.ensure(self.path.parent)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": self.key, "steps": self.steps}, default=str), "utf-8")
        os.replace(tmp, self.path)


def step_hash(obj: Any) -> str:
    """A short hash of a step's exact input (token ids, chunk bounds)."""
    return hashlib.sha256(json.dumps(obj, default=str).encode()).hexdigest()[:20]


def engine_identity(engine: Engine) -> dict[str, Any]:
    """What a finished step depends on besides its input: the loaded model and its settings."""
    return dict(engine.fingerprint())
