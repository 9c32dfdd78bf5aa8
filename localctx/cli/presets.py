"""`localctx presets`: the long-context model families localctx knows, with sources for every number."""

from __future__ import annotations

from typing import Any

import typer

from localctx.cli._options import JsonOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def presets(json: JsonOpt = False) -> None:
        """List presets (Hub repo, quants, trained context, vendor extension recipe); validates every file.

        Example: localctx presets --json
        """
        from localctx.cli._output import emit_json, stdout
        from localctx.models.presets import load_presets

        items = load_presets()  # SettingsError (exit 2) names the file and field of a bad preset
        if json:
            emit_json([p.to_json() for p in items])
            return
        from localctx.cli._tables import Col, table

        cols = (Col("name", "key"), Col("family"), Col("repo", "key"), Col("quants"),
                Col("trained", "number", "right"), Col("native / max", "number", "right"), Col("past native"))
        rows = [[p.name, p.family, p.repo, ", ".join(p.files), f"{p.n_ctx_train:,}",
                 f"{p.native_ctx:,} / {p.max_ctx:,}", _recipe(p)] for p in items]
        title = "presets (a name works as MODEL once `localctx pull REPO` has cached it)"
        stdout.print(table(stdout, cols, rows, title=title))


def _recipe(p: Any) -> str:
    """How the preset extends past its native context: the method and the settings it sets."""
    return p.extension["method"] + "".join(f" {k}={v:g}" if isinstance(v, float) else f" {k}={v}"
                                           for k, v in p.settings.items())
