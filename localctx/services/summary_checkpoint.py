"""The checkpoint of one summary: finished steps on disk, so an interrupted summary resumes.

Keyed by the file, the engine's identity (model file, layout, RoPE values, KV types), the options and
the prompt version; each step is kept with a hash of its exact input, so a changed chunk is redone.
A checkpoint is a help, never a condition: one that cannot be read (torn, garbage, another shape, a
folder in its place) is started over, and one that cannot be written (a full or read-only disk) is
said once as a warning while the summary goes on in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from localctx import paths
from localctx.engine.base import Engine
from localctx.errors import LocalctxError, skip_state, state_file_error

if TYPE_CHECKING:
    from localctx.services.summarize import Step


class Checkpoint:
    """Finished steps of one summary, written atomically after each step (JSON under cache_dir)."""

    def __init__(self, key: dict[str, Any], fresh: bool, source: str = "") -> None:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
        self.path = paths.summaries_dir() / f"{digest}.json"
        self.key = key
        self.source = source  # the file's path, for `localctx cache ls` (not in the key: a moved file resumes)
        self.steps: dict[str, dict[str, Any]] = {}
        self.write_error: str | None = None  # why the checkpoint is not being saved (None: it is)
        if not fresh and self.path.exists():
            self.steps = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        """The saved steps when the file is a checkpoint of this summary; else none (start over)."""
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):  # torn, garbage or a folder: start over (the first step's write
            return {}  # replaces the file, or says why it cannot)
        if not isinstance(data, dict) or data.get("key") != json.loads(json.dumps(self.key, default=str)):
            return {}
        steps = data.get("steps")
        return {k: v for k, v in steps.items() if isinstance(v, dict)} if isinstance(steps, dict) else {}

    def get(self, step_id: str, input_hash: str) -> dict[str, Any] | None:
        rec = self.steps.get(step_id)
        return rec if rec is not None and rec.get("input") == input_hash else None

    def put(self, step_id: str, input_hash: str, step: Step) -> None:
        self.steps[step_id] = {"input": input_hash, "summary": step.summary, "prompt_tokens": step.prompt_tokens,
                               "output_tokens": step.output_tokens, "evaluated_tokens": step.evaluated_tokens,
                               "seconds": step.seconds, "stop_reason": step.stop_reason}
        if self.write_error is not None:
            return  # said once; the summary goes on in memory
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            paths.ensure(self.path.parent)
            record = {"key": self.key, "source": self.source, "steps": self.steps}
            tmp.write_text(json.dumps(record, default=str), "utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            err = state_file_error(self.path, exc, "the summary checkpoint")
            self.write_error = err.one_line()
            skip_state(LocalctxError(f"{err.message}; the summary goes on without a checkpoint", err.hint))


def step_hash(obj: Any) -> str:
    """A short hash of a step's exact input (token ids, chunk bounds)."""
    return hashlib.sha256(json.dumps(obj, default=str).encode()).hexdigest()[:20]


def engine_identity(engine: Engine) -> dict[str, Any]:
    """What a finished step depends on besides its input: the loaded model and its settings."""
    return dict(engine.fingerprint())
