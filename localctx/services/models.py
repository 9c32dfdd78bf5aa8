"""Model listing and inspection, shared by `localctx models`/`inspect` and the TUI's Models screen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localctx.core.model_info import ModelInfo, read_model_info
from localctx.errors import LocalctxError
from localctx.models.catalog import all_entries, resolve_model


@dataclass
class ModelRow:
    name: str
    source: str
    path: Path | None
    arch: str = ""
    n_params: int = 0
    quant: str = ""
    size_bytes: int = 0
    ctx_train: int = 0
    error: str | None = None
    refers_to: str | None = None  # an alias: the reference it stands for

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["path"] = str(self.path) if self.path else None
        return d


def list_models() -> list[ModelRow]:
    rows = []
    for e in all_entries():
        alias = e.hint if e.source == "alias" else None
        try:
            p = e.path()
            mi = read_model_info(p)
            rows.append(ModelRow(e.name, e.source, p, mi.arch, mi.n_params, mi.quant, mi.file_size, mi.ctx_train,
                                 refers_to=alias))
        except LocalctxError as exc:
            rows.append(ModelRow(e.name, e.source, None, error=exc.one_line(), refers_to=alias))
    return rows


@dataclass(frozen=True)
class PresetOffer:
    """A preset whose file is not in the Hugging Face cache: listed beside the models that are, with
    what it is and the command that gets it (its name resolves only once pulled)."""

    name: str
    repo: str
    arch: str
    quant: str  # the quant `pull NAME` downloads
    quants: tuple[str, ...]
    ctx_train: int
    max_ctx: int
    description: str

    kind = "preset"  # the source it will have once pulled
    status = "not pulled"

    @property
    def pull_command(self) -> str:
        return f"localctx pull {self.name}"


def unpulled_presets(listed: Iterable[str] = ()) -> list[PresetOffer]:
    """Every preset whose default quant is not pulled, less the names in ``listed`` (the catalog's rows:
    a name registered over a preset's is that model).  A broken preset file: none (`presets` says why)."""
    from localctx.errors import SettingsError
    from localctx.models.presets import cached_presets, load_presets

    try:
        presets = load_presets()
    except SettingsError:
        return []  # `localctx presets` reports the problem
    taken = {p.name.lower() for p, _ in cached_presets()} | {n.lower() for n in listed}
    return [PresetOffer(p.name, p.repo, p.arch, p.default_quant, tuple(p.files), p.n_ctx_train, p.max_ctx,
                        p.description) for p in presets if p.name.lower() not in taken]


def resolve_reference(ref: str | None) -> Path:
    """The file a model reference names (the catalog's one resolver; see its errors)."""
    return resolve_model(ref)


def inspect_model(ref: str | None) -> ModelInfo:
    return read_model_info(resolve_model(ref))
