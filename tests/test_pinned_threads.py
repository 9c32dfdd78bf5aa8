"""The suite's guard against unpinned model loads (tests/pinning.py): a load without a thread count is
refused by the engine while LOCALCTX_REQUIRE_THREADS is set, and a test written without pinning fails,
whether it loads in-process, swallows the refusal, or starts a CLI subprocess that loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localctx.core.settings import RuntimeSettings
from localctx.engine.params import require_pinned_threads
from localctx.errors import SettingsError
from tests.pinning import REQUIRE_THREADS_ENV, UNPINNED_MESSAGE, unpinned_loads
from tests.slowness import scaled

REPO = Path(__file__).resolve().parents[1]


def test_the_engine_refuses_and_records_a_load_without_threads(tmp_path: Path, smollm2_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from localctx.engine.llamacpp import LlamaEngine

    log = tmp_path / "refused.log"
    monkeypatch.setenv(REQUIRE_THREADS_ENV, str(log))
    with pytest.raises(SettingsError, match="without threads: pass -t 1 / n_threads=1"):
        LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=256))
    (line,) = unpinned_loads(log)
    assert line.startswith(UNPINNED_MESSAGE) and smollm2_path.name in line
    log.unlink()  # recorded by design: this test's own check must not fail it
    with LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=256, n_threads=1)) as engine:
        assert engine.n_ctx == 256
    assert unpinned_loads(log) == []


def test_outside_the_suite_nothing_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_THREADS_ENV)
    require_pinned_threads(None, "loading a model")  # what a user's run does: llama.cpp's default
    monkeypatch.setenv(REQUIRE_THREADS_ENV, "1")
    require_pinned_threads(4, "loading a model")
    with pytest.raises(SettingsError, match=UNPINNED_MESSAGE):
        require_pinned_threads(None, "loading a model")


UNPINNED_TESTS = '''
import subprocess, sys
import pytest
from localctx.core.settings import RuntimeSettings
from localctx.engine.llamacpp import LlamaEngine
from localctx.services.runtime import load_engine


def test_loads_without_threads(smollm2_path):
    with LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=256)) as e:
        e.ingest(e.tokenize("hello"))


def test_swallows_the_refusal():
    try:
        load_engine("smollm2", RuntimeSettings(n_ctx=256))
    except Exception:
        pass


def test_a_cli_subprocess_without_t():
    subprocess.run([sys.executable, "-m", "localctx", "ask", "smollm2", "hi", "--ctx", "256", "-n", "1"],
                   capture_output=True)


@pytest.fixture(scope="module")
def quietly_unpinned():
    try:
        load_engine("smollm2", RuntimeSettings(n_ctx=256))
    except Exception:
        pass


def test_pinned_passes(quietly_unpinned):
    with load_engine("smollm2", RuntimeSettings(n_ctx=256, n_threads=1)) as e:
        e.ingest(e.tokenize("hello"))
    subprocess.run([sys.executable, "-m", "localctx", "ask", "smollm2", "hi", "--ctx", "256", "-n", "1", "-t", "1"],
                   capture_output=True, check=True)
'''


@pytest.mark.model
def test_a_test_written_without_pinning_fails(tmp_path: Path) -> None:
    """A test file run with this suite's conftest: each unpinned load fails its own test (the one that
    swallowed the refusal and the one whose subprocess loaded too); a module fixture's load fails the run."""
    (tmp_path / "test_unpinned.py").write_text(UNPINNED_TESTS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(REQUIRE_THREADS_ENV)  # the inner run sets its own
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                        "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_unpinned.py")],
                       capture_output=True, text=True, timeout=scaled(300), cwd=REPO, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    failed = {line.split("::")[1].split()[0] for line in out.splitlines()
              if line.startswith(("FAILED", "ERROR")) and "::" in line}
    assert failed == {"test_loads_without_threads", "test_swallows_the_refusal",
                      "test_a_cli_subprocess_without_t"}, out  # test_pinned_passes passes
    assert out.count(UNPINNED_MESSAGE) >= 4, out[-3000:]
    assert "ask smollm2 hi" in out  # the subprocess's own command line is named
    assert "FAILED (outside any test, in a fixture)" in out  # the module fixture's load
