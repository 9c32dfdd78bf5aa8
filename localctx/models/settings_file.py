"""The settings file: what a command uses when it is not told, persisted in the user's config (TOML).

File: ``<config_dir>/settings.toml`` (``LOCALCTX_HOME`` relocates it; `localctx config path` prints
it, `localctx config show` what is in effect and where each value comes from)::

    default_model = "qwen"                       # MODEL when a command is given none (models default NAME)
    system = "Answer in one short paragraph."    # chat, ask and the TUI when --system is not given

    [defaults]                                   # every model
    n_threads = 4
    sampling.temperature = 0.2

    [models."Qwen3-8B-Q4_K_M.gguf"]              # one model, keyed by its file name
    n_ctx = 65536
    extend = "yarn"
    yarn_orig_ctx = 32768
    sampling.temperature = 0.2                   # SamplingSettings fields (plan MODEL --temp 0.2 --save)

Precedence (``services.runtime.resolve_settings``): flags > [models."file"] > [defaults] > built-in
defaults.  Keys are RuntimeSettings field names, and ``sampling.*`` SamplingSettings field names; a bad
key or value is a SettingsError naming the file and the key, so a typo never silently changes nothing.
Nothing is read or written at import time.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.core.flags import check_sampling_values
from localctx.core.sampling import SamplingSettings
from localctx.core.settings import RuntimeSettings
from localctx.errors import SettingsError, state_file_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: persisted fields -> their annotation text (RuntimeSettings uses postponed annotations)
_HINTS: dict[str, str] = {f.name: str(f.type) for f in fields(RuntimeSettings) if f.name != "extra"}
#: persisted sampling fields (the seed is a runtime setting: --seed)
_SAMPLING_HINTS: dict[str, str] = {f.name: str(f.type) for f in fields(SamplingSettings) if f.name != "seed"}
SAMPLING = "sampling"
#: the keys outside any table: what they mean (`localctx config show` lists them)
TOP_LEVEL: dict[str, str] = {
    "default_model": "the model of a command given no MODEL (`localctx models default NAME`)",
    "system": "the system prompt of chat, ask and the TUI when --system is not given",
}
_TABLES = ("defaults", "models")


def _coerce(key: str, value: Any, where: str, hints: dict[str, str] = _HINTS) -> Any:
    hint = hints[key]
    if isinstance(value, bool):
        ok = "bool" in hint
    elif isinstance(value, int):
        ok = "int" in hint or "float" in hint
        value = float(value) if ok and "int" not in hint else value
    elif isinstance(value, float):
        ok = "float" in hint
    elif isinstance(value, str):
        ok = any(t in hint for t in ("str", "Literal", "RopeScaling", "KvType"))
    else:
        ok = False
    if not ok:
        raise SettingsError(f"{settings_file()}: {where}.{key} = {value!r} has the wrong type",
                            f"expected {hint.replace(' | None', '')}")
    return value


def settings_file() -> Path:
    return paths.settings_file()


def _read() -> dict[str, Any]:
    f = settings_file()
    if not f.exists():
        return {}
    try:
        data = tomllib.loads(f.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{f}: cannot read settings ({exc})", "fix or delete the file") from None
    for key, value in data.items():
        if key in _TABLES:
            continue
        if key not in TOP_LEVEL:
            raise SettingsError(f"{f}: unknown setting '{key}'", f"known outside a table: {', '.join(TOP_LEVEL)}; "
                                "runtime and sampling settings go under [defaults] or [models.\"<file>\"]")
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{f}: {key} = {value!r} must be a non-empty string")
    return data


def top_level(key: str) -> str | None:
    """A key outside any table (``TOP_LEVEL``), None when the file does not set it."""
    value = _read().get(key)
    return value if isinstance(value, str) else None


def default_model() -> str | None:
    """The reference `localctx models default NAME` saved (None: not set)."""
    return top_level("default_model")


def default_system() -> str | None:
    """The system prompt the file sets for chat, ask and the TUI (None: the built-in one)."""
    return top_level("system")


def set_top_level(key: str, value: str | None) -> Path:
    """Set (or, with None, remove) a key outside any table, keeping everything else in the file."""
    assert key in TOP_LEVEL
    data = check_file()  # a damaged file is refused, not rewritten from what could be read of it
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    _write(data)
    return settings_file()


def _check_sampling(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SettingsError(f"{settings_file()}: {where}.sampling must be a table of sampling settings")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _SAMPLING_HINTS:
            raise SettingsError(f"{settings_file()}: unknown sampling setting '{key}' in {where}",
                                f"known: {', '.join(sorted(_SAMPLING_HINTS))}")
        out[key] = _coerce(key, value, f"{where}.sampling", _SAMPLING_HINTS)
    try:
        check_sampling_values(out)
    except SettingsError as exc:
        raise SettingsError(f"{settings_file()}: {where}.sampling: {exc.message}", "fix it or run plan MODEL --forget"
                            ) from None
    return out


def _check(table: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == SAMPLING:
            out[key] = _check_sampling(value, where)
            continue
        if key not in _HINTS:
            raise SettingsError(f"{settings_file()}: unknown setting '{key}' in {where}",
                                f"known: {', '.join(sorted(_HINTS))}")
        out[key] = _coerce(key, value, where)
    return out


def model_key(path: str | Path) -> str:
    return Path(path).name


def model_settings(path: str | Path) -> dict[str, Any]:
    """[defaults] overlaid with [models."<file name>"], validated: RuntimeSettings fields."""
    out = _model_tables(path)
    out.pop(SAMPLING, None)
    return out


def model_sampling(path: str | Path) -> dict[str, Any]:
    """The saved sampling settings ([defaults] overlaid with the model's), as SamplingSettings fields."""
    data = _read()
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SettingsError(f"{settings_file()}: [defaults] must be a table", "fix or delete the file")
    out = dict(_check(dict(defaults), "[defaults]").get(SAMPLING, {}))
    out.update(_model_tables(path, defaults=False).get(SAMPLING, {}))
    return out


def _model_tables(path: str | Path, defaults: bool = True) -> dict[str, Any]:
    data = _read()
    raw = data.get("defaults", {})
    if not isinstance(raw, dict):
        raise SettingsError(f"{settings_file()}: [defaults] must be a table", "fix or delete the file")
    out = _check(dict(raw), "[defaults]") if defaults else {}
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise SettingsError(f"{settings_file()}: [models] must be a table of tables", "fix or delete the file")
    key = model_key(path)
    table = models.get(key, {})
    if not isinstance(table, dict):
        raise SettingsError(f"{settings_file()}: [models.\"{key}\"] must be a table")
    out.update(_check(dict(table), f'[models."{key}"]'))
    return out


def save_model_settings(path: str | Path, values: dict[str, Any], sampling: dict[str, Any] | None = None) -> Path:
    """Merge ``values`` (RuntimeSettings fields) and ``sampling`` (SamplingSettings fields) into the
    model's table; None removes a key."""
    model_settings(path)  # a damaged file is refused, not rewritten from what could be read of it
    data = _read()
    key = model_key(path)
    models = data.setdefault("models", {})
    if not isinstance(models, dict) or not isinstance(models.get(key, {}), dict):
        raise SettingsError(f"{settings_file()}: [models] must be a table of tables", "fix or delete the file")
    table = dict(models.get(key, {}))
    for k, v in values.items():
        if v is None:
            table.pop(k, None)
        else:
            table[k] = v
    kept = dict(table.get(SAMPLING, {}))
    for k, v in (sampling or {}).items():
        if v is None:
            kept.pop(k, None)
        else:
            kept[k] = v
    table.pop(SAMPLING, None)
    if kept:
        table[SAMPLING] = kept
    models[key] = _check(table, f'[models."{key}"]')
    _write(data)
    return settings_file()


def clear_model_settings(path: str | Path) -> bool:
    model_settings(path)
    data = _read()
    models = data.get("models", {})
    if not isinstance(models, dict) or model_key(path) not in models:
        return False
    del models[model_key(path)]
    _write(data)
    return True


def check_file() -> dict[str, Any]:
    """The whole file, every key and table checked (SettingsError naming the file and the key)."""
    data = _read()
    _model_tables("")  # [defaults] and the shape of [models]
    for key, table in data.get("models", {}).items():
        if not isinstance(table, dict):
            raise SettingsError(f"{settings_file()}: [models.\"{key}\"] must be a table")
        _check(dict(table), f'[models."{key}"]')
    return data


@dataclass(frozen=True)
class InEffect:
    """One setting as a command sees it: its value (None: decided per model or machine) and where it
    comes from ("file" or "built-in")."""

    key: str
    value: Any
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source}


def in_effect(builtin_system: str | None = None) -> list[InEffect]:
    """What a command uses when no flag says otherwise: the file's top-level keys and [defaults] over
    the built-in defaults (per-model tables, listed by `config show` too, apply on top for their model).
    ``builtin_system``: the prompt layer's own system prompt (this room cannot import it)."""
    from localctx.core.sampling import CHAT_SAMPLING
    from localctx.models import catalog

    data = check_file()
    defaults = _check(dict(data.get("defaults", {})), "[defaults]")
    builtin_model = catalog.DEFAULT_MODEL if catalog.BUNDLED[0].installed() else None
    out = [InEffect("default_model", data["default_model"], "file") if data.get("default_model")
           else InEffect("default_model", builtin_model, "built-in"),
           InEffect("system", data["system"], "file") if data.get("system")
           else InEffect("system", builtin_system, "built-in")]
    base = RuntimeSettings()
    for key in _HINTS:
        out.append(InEffect(key, defaults[key], "file") if key in defaults
                   else InEffect(key, getattr(base, key), "built-in"))
    saved = defaults.get(SAMPLING, {})
    for key in _SAMPLING_HINTS:
        out.append(InEffect(f"{SAMPLING}.{key}", saved[key], "file") if key in saved
                   else InEffect(f"{SAMPLING}.{key}", getattr(CHAT_SAMPLING, key), "built-in"))
    return out


def model_tables() -> dict[str, dict[str, Any]]:
    """The per-model tables of the file, checked: file name -> its settings."""
    return {k: _check(dict(v), f'[models."{k}"]') for k, v in check_file().get("models", {}).items()}


def _lines(table: dict[str, Any]) -> list[str]:
    out = [f"{k} = {_value(v)}" for k, v in sorted(table.items()) if k != SAMPLING]
    return out + [f"{SAMPLING}.{k} = {_value(v)}" for k, v in sorted(table.get(SAMPLING, {}).items())]


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise SettingsError(f"cannot store {v!r} in settings.toml")


def _write(data: dict[str, Any]) -> None:
    lines = ["# localctx settings: [defaults] for every model, [models.\"<file>\"] per model",
             "# precedence: command-line flags > this file > built-in defaults (`localctx config show`)", ""]
    top = [f"{k} = {_value(data[k])}" for k in TOP_LEVEL if data.get(k)]
    if top:
        lines += [*top, ""]
    for section in ("defaults",):
        if data.get(section):
            lines.append(f"[{section}]")
            lines += _lines(data[section])
            lines.append("")
    for name, table in sorted(data.get("models", {}).items()):
        lines.append(f"[models.{_value(name)}]")
        lines += _lines(table)
        lines.append("")
    f = settings_file()
    tmp = f.with_name(f"{f.name}.{os.getpid()}.tmp")
    try:
        paths.ensure(f.parent)
        tmp.write_text("\n".join(lines), encoding="utf-8")
        tmp.replace(f)
    except OSError as exc:  # a full or read-only disk: the file as it was stays
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise state_file_error(f, exc, "the runtime settings") from None


__all__ = ["TOP_LEVEL", "clear_model_settings", "default_model", "default_system", "model_sampling", "model_settings",
           "save_model_settings", "set_top_level", "settings_file", "top_level"]
