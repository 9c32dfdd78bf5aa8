"""Imports point one way: front ends -> services -> core / engine / hub / models / store.

Reads the imports (every ``import`` and ``from ... import`` anywhere in a module, function-level ones
included) of each module under ``localctx/`` with ``ast`` and fails on any arrow that points back or
sideways.  Each room lists the rooms it may use; anything not listed is a violation, so a new arrow
is a decision made here, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "localctx"

# room -> the localctx rooms it may import (its own room is always allowed).  A room is a
# subpackage (core, engine, ...) or a top-level module (errors, paths, __main__).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "paths": {"errors"},
    "core": {"errors"},
    "engine": {"core", "errors"},
    "hub": {"core", "errors", "paths"},
    "store": {"core", "errors", "paths"},
    "models": {"core", "errors", "paths", "hub"},
    "services": {"core", "errors", "paths", "engine", "hub", "models", "store"},
    "cli": {"core", "errors", "paths", "hub", "models", "services", "store"},
    "tui": {"core", "errors", "paths", "hub", "models", "services", "store"},
    # the HTTP server: a third front end beside cli/ and tui/, over the same services
    "server": {"core", "errors", "paths", "models", "services"},
    "__main__": {"cli"},
}

# (importing module, imported room): `localctx tui` is a command whose whole job is to start the
# terminal UI (cli/app.py calls it too, for a bare `localctx`); nothing else in cli/ reaches into tui/.
# `localctx serve` likewise only starts the HTTP server; nothing else in cli/ reaches into server/.
EXCEPTIONS = {("localctx.cli.tui", "tui"), ("localctx.cli.serve", "server")}

# third-party packages -> the only rooms allowed to import them
THIRD_PARTY: dict[str, set[str]] = {
    "llama_cpp": {"engine"},
    "huggingface_hub": {"hub"},
    "textual": {"tui"},
    "typer": {"cli"},
    "click": {"cli"},
    "rich": {"cli", "tui"},
    "starlette": {"server"},
    "uvicorn": {"server"},
    "fastapi": set(),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _room(module: str) -> str:
    return module.split(".")[1] if "." in module else "(package)"


def _imports(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of everything the source imports."""
    package = module if is_package else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "localctx":  # from localctx import paths -> localctx.paths; __version__ stays the root
                out += [(node.lineno, f"localctx.{a.name}" if _is_module(a.name) else "localctx")
                        for a in node.names]
            else:
                out.append((node.lineno, target))
    return out


def check(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """The arrows of one module that break the rules, as 'line: what' strings."""
    room = _room(module)
    allowed = ALLOWED.get(room, set())
    found = []
    for line, name in _imports(source, module, is_package=is_package):
        top = name.split(".")[0]
        if top == "localctx":
            target = _room(name)
            if target in (room, "(package)") or (module, target) in EXCEPTIONS:
                continue
            if target not in allowed:
                may = ", ".join(sorted(allowed)) or "nothing"
                found.append(f"{line}: {room} imports {name} ({room} may use: {may})")
        elif top in THIRD_PARTY and room not in THIRD_PARTY[top]:
            found.append(f"{line}: {room} imports {name} (only {', '.join(sorted(THIRD_PARTY[top]))} may)")
    return found


def violations() -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)}:{v}"
            for path in sorted(PACKAGE.rglob("*.py"))
            for v in check(path.read_text(), _module_name(path), is_package=path.name == "__init__.py")]


def test_every_room_has_a_rule() -> None:
    rooms = {_room(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {"(package)"}
    assert rooms <= set(ALLOWED), f"rooms with no layering rule: {sorted(rooms - set(ALLOWED))}"


def test_imports_point_one_way() -> None:
    assert violations() == []


def test_the_checker_sees_function_level_and_relative_imports() -> None:
    """An arrow hidden in a function body or written relatively is still an arrow."""
    src = ("import json\n"
           "def f():\n"
           "    from localctx.cli import app\n"
           "    from ..tui import app as t\n"
           "    from . import rope\n"
           "    import llama_cpp\n")
    assert [n for _, n in _imports(src, "localctx.core.probe")] == [
        "json", "localctx.cli", "localctx.tui", "localctx.core", "llama_cpp"]
    assert [v.split(":")[0] for v in check(src, "localctx.core.probe")] == ["3", "4", "6"]
    assert check(src.replace("llama_cpp", "numpy"), "localctx.services.x") == [
        "3: services imports localctx.cli (services may use: core, engine, errors, hub, models, paths, store)",
        "4: services imports localctx.tui (services may use: core, engine, errors, hub, models, paths, store)"]
    assert check("from localctx.tui.app import run\n", "localctx.cli.tui") == []
    assert check("from localctx import __version__, paths\n", "localctx.core.x") == [
        "1: core imports localctx.paths (core may use: errors)"]
    assert check("from localctx.tui.app import run\n", "localctx.cli.chat") != []
    assert check("from localctx.server.run import serve\n", "localctx.cli.serve") == []
    assert check("from localctx.server.run import serve\n", "localctx.cli.chat") != []
    assert check("from localctx.cli.app import app\n", "localctx.server.app") != []
    assert check("import starlette\n", "localctx.services.serving") != []
