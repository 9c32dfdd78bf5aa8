"""`localctx pull` and `localctx rm`: models from the Hugging Face Hub, offline-first and verified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from localctx.cli._options import JsonOpt

RefArg = Annotated[str, typer.Argument(help="owner/repo, owner/repo:QUANT (default Q4_K_M), owner/repo:FILE.gguf, "
                                       "or a preset: NAME[:QUANT] (see `localctx presets`)", show_default=False)]
RevisionOpt = Annotated[str | None, typer.Option("--revision", "-r", help="Branch, tag or commit (default main).")]


class _Bars:
    """Rich progress on stderr, one bar per file, fed by the service's progress callback."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from localctx.cli._output import stderr

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(), console=stderr, transient=True,
                                 disable=not enabled)
        self.tasks: dict[tuple[str, str], Any] = {}

    def __enter__(self) -> _Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, p: Any) -> None:
        key = (p.phase, p.file)
        if key not in self.tasks:
            label = f"{'verify' if p.phase == 'verify' else 'pull'} {Path(p.file).name}"
            if p.count > 1:
                label += f" ({p.index + 1}/{p.count})"
            self.tasks[key] = self.progress.add_task(label, total=p.total)
        self.progress.update(self.tasks[key], completed=p.done, total=p.total)


def register(app: typer.Typer) -> None:
    @app.command()
    def pull(
        ref: RefArg,
        revision: RevisionOpt = None,
        local_dir: Annotated[Path | None, typer.Option("--local-dir", help="Download into this folder instead "
                                                          "of the shared Hugging Face cache.")] = None,
        list_: Annotated[bool, typer.Option("--list", help="Show the repo's quants with sizes; download nothing.")]
        = False,
        no_verify: Annotated[bool, typer.Option("--no-verify", help="Accept files the Hub lists no hash for "
                                                "(they are refused otherwise); the result says what was skipped.")]
        = False,
        json: JsonOpt = False,
    ) -> None:
        """Download a GGUF from the Hugging Face Hub into the shared cache, every file verified (sha256 for LFS
        files, the git blob SHA-1 for the others).

        Example: localctx pull bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M   (or a preset: localctx pull qwen3-8b)
        """
        from localctx.cli._output import emit_json, hint, human_bytes, info, stderr, stdout, warn
        from localctx.hub import client as hub
        from localctx.services.preset_source import pull_target

        r, preset_hub_ref = pull_target(ref, revision)
        if preset_hub_ref is not None:
            info(f"preset {ref}: {preset_hub_ref}")
        if list_:
            listing = hub.list_quants(r)
            if json:
                emit_json(listing.to_json())
                return
            _print_listing(listing, stdout, human_bytes)
            return
        with _Bars(enabled=stderr.is_terminal) as bars:
            result = hub.pull(r, local_dir=local_dir, progress=bars, no_verify=no_verify)
        for note in result.notes:
            warn(note)
        if json:
            emit_json(result.to_json())
            return
        how = "already in the cache" if result.from_cache else f"downloaded {human_bytes(result.downloaded_bytes)}"
        check = f"{result.verification} verified" if result.verified else (result.verification or "not verified")
        info(f"[bold]{result.name}[/] ({human_bytes(result.size_bytes)}, {how}, {check})")
        stdout.print(str(result.path), soft_wrap=True)
        if local_dir is None:
            hint(f"localctx inspect {result.name}")

    @app.command("rm")
    def rm(
        name: Annotated[str, typer.Argument(help="A pulled model, owner/repo:QUANT (see `localctx models`).")],
        json: JsonOpt = False,
    ) -> None:
        """Remove a pulled model from the Hugging Face cache (only pulled models; shared blobs are kept).

        Example: localctx rm bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M
        """
        from localctx.cli._output import emit_json, human_bytes, info
        from localctx.hub.refs import remove

        removed = remove(name)
        if json:
            emit_json(removed.to_json())
            return
        info(f"removed [bold]{removed.name}[/] ({len(removed.files)} file(s), {human_bytes(removed.freed_bytes)} "
             "freed)")


def _print_listing(listing: Any, out: Any, human_bytes: Any) -> None:
    from localctx.cli._tables import Col, table
    from localctx.hub.select import default_choice

    default = default_choice(listing.choices)[0] if listing.choices else None
    src = " (from the cache: offline)" if listing.from_cache else ""
    cols = (Col("quant", "key"), Col("size", "number", "right"), Col("file", "key"), Col("shards", "number", "right"),
            Col(""))
    rows = [[c.quant, human_bytes(c.size), c.first, str(len(c.files)), "default" if c is default else ""]
            for c in listing.choices]
    out.print(table(out, cols, rows, title=f"{listing.repo} @ {listing.revision} ({listing.commit[:8]}){src}"))

