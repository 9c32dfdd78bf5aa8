"""Presets: popular long-context GGUF families as data (``presets/*.toml``), validated on load.

Each file is one family with ``[[models]]``: Hub repo, file pattern per quant, trained context, the
vendor-recommended extension settings and the source of every number.  The model catalog lists
``cached_presets``, so a preset name resolves wherever a model name does once its file is in the
Hugging Face cache (``localctx pull <repo>`` puts it there).

Where presets are read from: ``LOCALCTX_PRESETS_DIR`` if set, else the ``presets/`` package data
next to this module, plus ``<config_dir>/presets/*.toml`` for the user's own.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.core.flags import ROPE_FIELDS
from localctx.core.settings import EXTEND_METHODS
from localctx.errors import LocalctxError, SettingsError
from localctx.hub import client as hub

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: what a preset's [extension] table may hold: the method, a note, and any RoPE setting (a float except two)
_NOT_FLOAT = {"rope_scaling": str, "yarn_orig_ctx": int}
EXTENSION_KEYS: dict[str, type] = {"method": str, "note": str, **{k: _NOT_FLOAT.get(k, float) for k in ROPE_FIELDS}}
REQUIRED_SOURCES = ("repo", "n_ctx_train", "extension")


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    repo: str
    arch: str
    n_ctx_train: int  # the GGUF's {arch}.context_length
    native_ctx: int  # what the vendor trained / validated without extension
    max_ctx: int  # the most the vendor supports (with its extension recipe)
    default_quant: str
    files: dict[str, str]  # quant -> file name pattern (fnmatch, case-insensitive)
    extension: dict[str, Any]  # method, note, and llama.cpp parameters (factor comes from --ctx)
    sources: dict[str, str]
    file: str = ""
    description: str = ""

    @property
    def settings(self) -> dict[str, Any]:
        """RuntimeSettings fields the vendor recommends past ``native_ctx``."""
        return {k: v for k, v in self.extension.items() if k not in ("method", "note")}

    def matches_file(self, filename: str) -> str | None:
        """The quant whose pattern matches ``filename`` (None: not this preset's file)."""
        low = filename.lower()
        for quant, pattern in self.files.items():
            if fnmatch.fnmatch(low, pattern.lower()):
                return quant
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def preset_dirs() -> list[Path]:
    env = os.environ.get("LOCALCTX_PRESETS_DIR")
    dirs = [Path(env)] if env else [Path(__file__).resolve().parent / "presets"]
    dirs.append(paths.config_dir() / "presets")
    return [d for d in dirs if d.is_dir()]


def _need(d: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise SettingsError(f"{where}: missing field '{key}'")
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, typ):
        name = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise SettingsError(f"{where}.{key}: expected {name}, got {v!r}")
    return v


def _parse_model(m: Any, family: str, file: Path, i: int) -> Preset:
    where = f"{file}: models[{i}]"
    if not isinstance(m, dict):
        raise SettingsError(f"{where}: must be a table")
    name = _need(m, "name", str, where)
    where = f"{file}: models[{i}] ({name})"
    repo = _need(m, "repo", str, where)
    if repo.count("/") != 1:
        raise SettingsError(f"{where}.repo: expected owner/name, got {repo!r}")
    ints = {k: _need(m, k, int, where) for k in ("n_ctx_train", "native_ctx", "max_ctx")}
    for k, v in ints.items():
        if v <= 0:
            raise SettingsError(f"{where}.{k}: must be greater than 0, got {v}")
    if ints["max_ctx"] < ints["native_ctx"]:
        raise SettingsError(f"{where}.max_ctx {ints['max_ctx']} is below native_ctx {ints['native_ctx']}")
    files = _need(m, "files", dict, where)
    if not files or not all(isinstance(v, str) and v.endswith(".gguf") for v in files.values()):
        raise SettingsError(f"{where}.files: expected quant = \"pattern.gguf\" entries")
    quant = _need(m, "default_quant", str, where)
    if quant not in files:
        raise SettingsError(f"{where}.default_quant '{quant}' is not one of files: {', '.join(files)}")
    ext = _need(m, "extension", dict, where)
    for k, v in ext.items():
        if k not in EXTENSION_KEYS:
            raise SettingsError(f"{where}.extension.{k}: unknown key", f"known: {', '.join(EXTENSION_KEYS)}")
        want = EXTENSION_KEYS[k]
        if isinstance(v, bool) or not isinstance(v, (want, int) if want is float else want):
            raise SettingsError(f"{where}.extension.{k}: expected {want.__name__}, got {v!r}")
    method = _need(ext, "method", str, f"{where}.extension")
    if method not in EXTEND_METHODS + ("model",):
        raise SettingsError(f"{where}.extension.method: unknown '{method}'",
                            f"use one of: {', '.join(EXTEND_METHODS + ('model',))}")
    if ext.get("rope_scaling") not in (None, "none", "linear", "yarn"):
        raise SettingsError(f"{where}.extension.rope_scaling: unknown '{ext['rope_scaling']}'")
    sources = _need(m, "sources", dict, where)
    for k in REQUIRED_SOURCES:
        if not isinstance(sources.get(k), str) or not sources[k].strip():
            raise SettingsError(f"{where}.sources.{k}: every number needs its source")
    ext = {k: (float(v) if EXTENSION_KEYS[k] is float else v) for k, v in ext.items()}
    return Preset(name=name, family=family, repo=repo, arch=_need(m, "arch", str, where), default_quant=quant,
                  files=dict(files), extension=ext, sources=dict(sources), file=str(file),
                  description=str(m.get("description", "")), **ints)


def load_file(file: Path) -> list[Preset]:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{file}: not valid TOML ({exc})") from None
    family = _need(data, "family", str, str(file))
    models = _need(data, "models", list, str(file))
    if not models:
        raise SettingsError(f"{file}: no [[models]]")
    out = [_parse_model(m, family, file, i) for i, m in enumerate(models)]
    return [p if p.description else Preset(**{**asdict(p), "description": str(data.get("description", ""))})
            for p in out]


@lru_cache(maxsize=8)
def _load_all(key: tuple[tuple[str, float], ...]) -> tuple[Preset, ...]:
    presets: list[Preset] = []
    seen: dict[str, str] = {}
    for path_str, _mtime in key:
        for p in load_file(Path(path_str)):
            if p.name.lower() in seen:
                raise SettingsError(f"{p.file}: preset '{p.name}' is also defined in {seen[p.name.lower()]}")
            seen[p.name.lower()] = p.file
            presets.append(p)
    return tuple(presets)


def load_presets() -> list[Preset]:
    """Every preset, validated (SettingsError names the file and field of the first problem)."""
    files = sorted(f for d in preset_dirs() for f in d.glob("*.toml"))
    return list(_load_all(tuple((str(f), f.stat().st_mtime) for f in files)))


def get_preset(name: str) -> Preset | None:
    low = name.lower()
    return next((p for p in load_presets() if p.name.lower() == low), None)


def match_preset(filename: str, arch: str | None = None) -> tuple[Preset, str] | None:
    """(preset, quant) whose file pattern matches a GGUF file name (and architecture, when given)."""
    for p in load_presets():
        q = p.matches_file(filename)
        if q and (arch is None or arch == p.arch) and _name_in_file(p, filename):
            return p, q
    return None


def _name_in_file(p: Preset, filename: str) -> bool:
    """Patterns are just '*Q4_K_M.gguf': also require the repo's model name in the file name."""
    stem = p.repo.split("/", 1)[1].lower().removesuffix("-gguf")
    for prefix in ("meta-",):
        stem = stem.removeprefix(prefix)
    return stem.replace("_", "-") in filename.lower().replace("_", "-")


def preset_ref(ref: str | None) -> tuple[Preset, str] | None:
    """(preset, quant) when ``ref`` names a preset (``NAME`` or ``NAME:QUANT``), else None; a quant
    the preset does not have is a LocalctxError naming the ones it has."""
    if not ref or "/" in ref or ref.lower().endswith(".gguf"):
        return None
    name, _, quant = ref.partition(":")
    try:
        preset = get_preset(name.strip())
    except LocalctxError:
        return None
    if preset is None:
        return None
    quant = quant.strip() or preset.default_quant
    known = {q.upper(): q for q in preset.files}
    if quant.upper() not in known:
        raise LocalctxError(f"preset {preset.name} has no quant '{quant}'", f"use one of: {', '.join(preset.files)}")
    return preset, known[quant.upper()]


# ---- catalog source: preset names for models in the Hugging Face cache -----------------------------
def _cached_path(p: Preset) -> Path | None:
    try:
        ref = hub.HubRef(p.repo, p.default_quant)
        listing = hub.cached_listing(ref)
        if listing is None or not listing.choices:
            return None
        return Path(hub.resolve_cached(ref).paths[0])
    except (LocalctxError, OSError):  # a preset whose file is not (fully) cached is simply not offered
        return None


def cached_presets() -> list[tuple[Preset, Path]]:
    """Presets whose default quant is in the Hugging Face cache, with the path of its (first) file."""
    try:
        presets = load_presets()
    except SettingsError:
        return []  # `localctx presets` reports the problem; model resolution must not break on it
    return [(p, path) for p in presets if (path := _cached_path(p)) is not None]

__all__ = ["Preset", "cached_presets", "get_preset", "load_file", "load_presets", "match_preset", "preset_dirs",
           "preset_ref"]

