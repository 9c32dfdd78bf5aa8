"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

ModelArg = Annotated[
    Optional[str],
    typer.Argument(help="Model: a .gguf path, a catalog name (see `localctx models`), or a preset.", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
