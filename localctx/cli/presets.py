"""`localctx presets`: the long-context model families localctx knows, with sources for every number."""

from __future__ import annotations

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
        from rich.table import Table

        t = Table(title="presets (a name works as MODEL once `localctx pull REPO` has cached it)")
        for col in ("name", "family", "repo", "quants", "trained", "native / max", "past native"):
            t.add_column(col, overflow="fold")
        for p in items:
            ext = p.extension
            recipe = ext["method"] + "".join(f" {k}={v:g}" if isinstance(v, float) else f" {k}={v}"
                                             for k, v in p.settings.items())
            t.add_row(p.name, p.family, p.repo, ", ".join(p.files), f"{p.n_ctx_train:,}",
                      f"{p.native_ctx:,} / {p.max_ctx:,}", recipe)
        stdout.print(t)
