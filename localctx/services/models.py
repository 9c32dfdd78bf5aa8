"""Model listing and inspection, shared by `localctx models`/`inspect` and the TUI's Models screen."""

from __future__ import annotations

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


def resolve_reference(ref: str | None) -> Path:
    """The file a model reference names (the catalog's one resolver; see its errors)."""
    return resolve_model(ref)


def inspect_model(ref: str | None) -> ModelInfo:
    return read_model_info(resolve_model(ref))
