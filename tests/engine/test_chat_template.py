"""Chat templates from model files are untrusted: a broken one is one line, a hostile one is stopped.

The engine is the real LlamaEngine on SmolLM2 with its template swapped for each case (the formatter
is what ``format_chat`` builds from the file's ``tokenizer.chat_template``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from localctx.core.settings import RuntimeSettings
from localctx.engine import chat_template
from localctx.errors import LocalctxError

pytestmark = pytest.mark.model
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def engine(smollm2_path: Path):
    from localctx.engine.llamacpp import LlamaEngine

    e = LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=256, n_threads=1))
    yield e
    e.close()


def _format(engine, template: str) -> str:
    engine.metadata["tokenizer.chat_template"] = template
    engine._formatters.clear()
    return engine.format_chat(MESSAGES)


@pytest.fixture(autouse=True)
def restore(engine):
    saved = engine.metadata.get("tokenizer.chat_template")
    yield
    engine.metadata["tokenizer.chat_template"] = saved
    engine._formatters.clear()


def test_the_real_template_still_renders(engine) -> None:
    assert engine.format_chat(MESSAGES).endswith("<|im_start|>assistant\n")


def test_a_template_that_does_not_compile_is_one_line(engine, smollm2_path: Path) -> None:
    with pytest.raises(LocalctxError) as err:
        _format(engine, "{% for m in messages %}{{ m['content'] }}")
    line = err.value.one_line()
    assert "does not compile" in line and smollm2_path.name in line and "\n" not in line


@pytest.mark.parametrize("template,why", [
    ("{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}", "steps"),
    ("{% for m in messages %}{% for i in range(99999) %}{% for j in range(99999) %}{{ i }}{% endfor %}"
     "{% endfor %}{% endfor %}", "steps"),
    ("{{ 9**(9**7) }}", "too large"),
    ("{% set x = 9 %}{{ x ** (x ** 7) }}", "too large"),
    ("{{ 'x' * 10**9 }}", "too large"),
])
def test_a_hanging_template_is_stopped_within_the_budget(engine, monkeypatch: pytest.MonkeyPatch, template: str,
                                                         why: str) -> None:
    monkeypatch.setattr(chat_template, "RENDER_STEPS", 200_000)
    t0 = time.monotonic()
    with pytest.raises(LocalctxError) as err:
        _format(engine, template)
    assert time.monotonic() - t0 < 30
    line = err.value.one_line()
    assert "was stopped" in line and why in line and "\n" not in line


def test_the_time_budget_stops_a_slow_template(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_template, "RENDER_SECONDS", 0.2)
    t0 = time.monotonic()
    with pytest.raises(LocalctxError, match="more than 0.2 s"):
        _format(engine, "{% for i in range(99999) %}{% for j in range(99999) %}{{ i }}{% endfor %}{% endfor %}")
    assert time.monotonic() - t0 < 30


def test_the_template_cannot_reach_python(engine) -> None:
    with pytest.raises(LocalctxError, match="rejected the conversation"):
        _format(engine, "{{ messages.__class__.__mro__[1].__subclasses__() }}")


def test_ctrl_c_interrupts_a_rendering_template(engine) -> None:
    """SIGINT during a long render raises KeyboardInterrupt at once (it is not a template error), and the
    trace function is gone afterwards."""
    import signal
    import sys

    def interrupt(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    before = sys.gettrace()  # a coverage tool's tracer, or None
    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            _format(engine, "{% for i in range(99999) %}{% for j in range(99999) %}{{ i }}{% endfor %}{% endfor %}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.monotonic() - t0 < chat_template.RENDER_SECONDS and sys.gettrace() is before
