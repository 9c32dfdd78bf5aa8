"""The registry of user-given names (``<config_dir>/models.toml``): a name for a local GGUF file
(``models add PATH --name N``) or an alias of another reference (``models add owner/repo:QUANT --name N``).

The file is TOML, one line a name::

    [models]
    qwen = { path = "/home/me/models/qwen3-8b-q4_k_m.gguf" }   # a file
    tiny = { ref = "acme/Tiny-GGUF:Q4_K_M" }                  # an alias: resolved on each use

An alias keeps the reference, not the file it resolves to today, so a model pulled again at a newer
revision is still found.  Reading, changing and rewriting the file happen under a lock, the rewrite
through a temporary file and a rename: parallel ``models add`` runs keep every name.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from localctx import paths
from localctx.errors import LocalctxError, StateFileError, state_file_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Registered:
    """What a registered name stands for: a file (``path``) or another reference (``ref``)."""

    target: str
    is_alias: bool = False

    def toml(self) -> str:
        return f"{{ {'ref' if self.is_alias else 'path'} = {_toml_str(self.target)} }}"


def registry_file() -> Path:
    return paths.registry_file()


def load_registry() -> dict[str, Registered]:
    """The registered names; StateFileError naming the file when it is unreadable or not a registry
    (garbage, wrong types, a folder in its place)."""
    f = registry_file()
    if not f.exists():
        return {}
    hint = f"move it aside (e.g. to {f.name}.bad) and register the models again with `localctx models add`"
    try:
        data = tomllib.loads(f.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise state_file_error(f, exc, "the model registry", damaged_hint=hint) from None
    models = data.get("models", {})
    entries = models.items() if isinstance(models, dict) else None
    out: dict[str, Registered] = {}
    for k, v in entries or ():
        if isinstance(v, dict) and isinstance(v.get("ref"), str) and "path" not in v:
            out[str(k)] = Registered(v["ref"], is_alias=True)
            continue
        p = v.get("path") if isinstance(v, dict) else v
        if not isinstance(p, str):
            entries = None
            break
        out[str(k)] = Registered(p)
    if entries is None:
        raise StateFileError(f"{f}: the model registry is damaged ([models] is not a table of name = "
                             "{ path = ... } or { ref = ... })", hint)
    return out


@contextlib.contextmanager
def registry_locked() -> Iterator[None]:
    """Hold the registry's lock file while reading, changing and rewriting it: parallel ``models add``
    runs would otherwise each rewrite the file from what they read and drop the others' names."""
    import fcntl

    lock = paths.registry_lock()
    try:
        paths.ensure(lock.parent)
        fh = open(lock, "a")  # closed by the `with` below, after the lock is released
    except OSError as exc:
        raise _unwritable(exc, lock if lock.is_dir() else registry_file()) from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _unwritable(exc: OSError, path: Path | None = None) -> LocalctxError:
    return state_file_error(path or exc.filename or registry_file(), exc, "the model registry")


def save_registry(reg: dict[str, Registered]) -> None:
    """Rewrite the registry atomically: a temporary file of this process, then a rename."""
    f = registry_file()
    lines = ["# models registered with `localctx models add`: a file (path) or an alias (ref)", "[models]"]
    for name, r in sorted(reg.items()):
        lines.append(f"{_toml_key(name)} = {r.toml()}")
    tmp = f.with_name(f"{f.name}.{os.getpid()}.tmp")
    try:
        paths.ensure(f.parent)
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(f)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise _unwritable(exc, f) from None


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(s: str) -> str:
    return s if all(c.isalnum() or c in "-_" for c in s) else _toml_str(s)
