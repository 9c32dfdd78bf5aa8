"""The built wheel ships what the package reads at run time, and a plain (non-editable) install finds it.

An editable install reads everything from the checkout, so a file missing from the wheel goes
unnoticed until someone installs the wheel.  These tests build the wheel from this checkout, look
inside it, and install it into a fresh virtual environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from localctx.core.conversation import QUESTION_ROOM

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "presets"  # the top-level folder: a link to the package data the wheel ships

pytestmark = pytest.mark.slow


PIP_ENV = os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout (setuptools' build/ folder would keep deleted modules)."""
    src = tmp_path_factory.mktemp("src") / "localctx"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests", "docs", "scripts"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True, env=PIP_ENV)
    (found,) = out.glob("localctx-*.whl")
    return found


def test_the_top_level_presets_folder_is_the_package_data() -> None:
    assert PRESETS.resolve() == (ROOT / "localctx" / "models" / "presets").resolve()
    assert len(list(PRESETS.glob("*.toml"))) >= 4


def test_the_wheel_contains_every_preset_and_the_tui_stylesheet(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in PRESETS.glob("*.toml"):
        assert f"localctx/models/presets/{f.name}" in names, f"{f.name} is not in {wheel.name}"
    assert "localctx/tui/localctx.tcss" in names
    assert not any(n.startswith(("tests/", "scripts/", "presets/")) for n in names)
    modules = {n for n in names if n.startswith("localctx/") and n.endswith(".py")}
    assert modules == {p.relative_to(ROOT).as_posix() for p in (ROOT / "localctx").rglob("*.py")}


def test_a_fresh_install_of_the_wheel_lists_the_presets(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies (llama-cpp-python, textual, ...) come from the test environment, after the fresh
    # site-packages on sys.path, so `localctx` itself is only the copy installed from the wheel
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, env=PIP_ENV)
    env = os.environ | {"LOCALCTX_HOME": str(tmp_path / "home")}
    env.pop("LOCALCTX_PRESETS_DIR", None)
    r = subprocess.run([str(env_dir / "bin" / "localctx"), "presets", "--json"], capture_output=True, text=True,
                       env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    files = {Path(p["file"]) for p in listed}
    assert all(f.is_relative_to(site / "localctx" / "models" / "presets") for f in files), files
    assert {f.name for f in files} == {f.name for f in PRESETS.glob("*.toml")}


def test_the_readme_fits_the_first_command_of_the_readme(smollm2_path: Path) -> None:
    """The README's first command asks smollm2 about the README at its trained context (8,192): the file
    plus the reply reserve (512), the question room and the system text must fit, or a new user's
    first command is an overflow error.  Move long reference text to docs/ when this fails."""
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=str(smollm2_path), vocab_only=True, verbose=False)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_bytes()
    assert len(vocab.tokenize(readme, add_bos=False)) + 512 + QUESTION_ROOM + 256 <= 8192
