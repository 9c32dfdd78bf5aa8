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
    ("{{ 'x' * 10**9 }}", "characters"),
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


#: templates whose work hides in filters, globals and C-level operations, or whose output has no end:
#: each once ran 15 s to > 90 s against the 5 s budget, or rendered a 90 MB prompt (words of the refusal)
UNBOUNDED = {
    "{{ lipsum(300000)|length }}": "'lipsum' is undefined",
    "{{ (range(100000)|list * 99)|sort }}": "9,900,000 items",
    '{{ ["x"*9999999] * 9 }}': "characters",
    "{{ 'x'.ljust(10**9) }}": "characters",
    "{{ 'x'|center(10**9) }}": "characters",
    "{{ '%0999999999d' % 1 }}": "formatted field",
    "{{ '{:>999999999}'.format(1) }}": "formatted field",
    "{% set s = namespace(v='x') %}{% for i in range(40) %}{% set s.v = s.v ~ s.v %}{% endfor %}": "characters",
    "{% set s = namespace(v='x') %}{% for i in range(40) %}{% set s.v = s.v + s.v %}{% endfor %}": "characters",
    "{{ ('\\n' * 500000)|indent(500000) }}": "indent",
    "{{ [1]|batch(10**9, 0)|list|length }}": "batch",
    "{{ 'ab'|replace('', 'x' * 900000) }}": "replace",
    "{{ messages|tojson(indent=999999) }}": "tojson",
    "{{ strftime_now('%999999999Y') }}": "formatted field",
    "{% for i in range(100) %}{{ 'x' * 100000 }}{% endfor %}": "characters",
    "{{ ('\t' * 100000).expandtabs(100000) }}": "expandtabs",
    "{{ ('a' * 100000).translate({97: 'x' * 100000}) }}": "translate",
    "{% set s %}{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}{% endset %}": "characters",
    "{% macro m() %}{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}{% endmacro %}{{ m() }}": "characters",
}


@pytest.mark.parametrize("template", list(UNBOUNDED))
def test_work_in_filters_globals_and_operators_is_bounded(engine, template: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(LocalctxError) as err:
        _format(engine, template)
    assert time.monotonic() - t0 < 15  # the 5 s budget, on a loaded machine
    line = err.value.one_line()
    assert UNBOUNDED[template] in line and "\n" not in line, line


def test_the_prompt_may_be_as_long_as_the_context_can_hold(engine) -> None:
    """The cap is generous: a document of 300,000 characters (~75,000 tokens) renders whole even for a
    256-token context (whether it fits is the token budget's question, answered later in one line)."""
    doc = "The archivist catalogued letters. " * 9000
    engine.metadata["tokenizer.chat_template"] = "{% for m in messages %}{{ m['content'] | trim }}\n{% endfor %}"
    engine._formatters.clear()
    assert len(engine.format_chat([{"role": "system", "content": doc}, {"role": "user", "content": "hi"}])) > 300_000


_UNDER_2GB = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from pathlib import Path
from localctx.engine import chat_template as ct
from localctx.errors import LocalctxError
for t in sys.argv[1:]:
    t0 = time.monotonic()
    fmt = ct.compile_formatter(t, bos="<s>", eos="</s>", add_generation_prompt=True, model=Path("m.gguf"))
    try:
        out = ct.render(fmt, [{"role": "user", "content": "hello"}], model=Path("m.gguf"), n_ctx=4096)
        print(f"rendered {len(out):,} characters")
    except LocalctxError as exc:
        print(f"{time.monotonic() - t0:.1f} {exc.one_line()}")
"""


def test_unbounded_templates_are_refused_under_a_2gb_address_space() -> None:
    """Memory stays bounded: with 2 GB of address space every case is one refusal line, never a
    MemoryError (before the caps, several built gigabytes of text)."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-c", _UNDER_2GB, *UNBOUNDED], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": str(repo)})
    assert p.returncode == 0 and "MemoryError" not in p.stderr, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert len(lines) == len(UNBOUNDED), p.stdout
    for line, words in zip(lines, UNBOUNDED.values(), strict=True):
        seconds, _, text = line.partition(" ")
        assert words in text and float(seconds) < 15, line


def test_a_chat_template_file_that_does_not_compile_is_named(tmp_path: Path, smollm2_path: Path) -> None:
    """`--chat-template FILE` that is not valid Jinja: the error names that file, not the model's template."""
    import os
    import subprocess
    import sys

    bad = tmp_path / "mine.jinja"
    bad.write_text("{% for m in messages %}{{ m.content }}")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "LOCALCTX_HOME": str(tmp_path / "h")}
    p = subprocess.run([sys.executable, "-m", "localctx", "ask", str(smollm2_path), "hi", "--chat-template", str(bad),
                        "-t", "1", "--ctx", "256", "-n", "4"], capture_output=True, text=True, timeout=300, env=env)
    assert (p.returncode, p.stdout) == (2, ""), p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and f"the chat template file {bad} does not compile" in lines[0], lines
    assert "model file" not in lines[0]


def test_a_hostile_chat_template_file_is_one_line_under_2gb(tmp_path: Path, smollm2_path: Path) -> None:
    """The real command with a 2 GB address space: `ask --chat-template` with a template that rendered
    a 90 MB prompt is refused in one line, exit 2."""
    import os
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    big = tmp_path / "big.jinja"
    big.write_text('{{ ["x"*9999999] * 9 }}')
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "LOCALCTX_HOME": str(tmp_path / "h")}
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "localctx", "ask", str(smollm2_path), "hi", "--chat-template", str(big),
                        "-t", "1", "--ctx", "256", "-n", "4"], capture_output=True, text=True, timeout=300, env=env,
                       preexec_fn=limit)
    assert time.monotonic() - t0 < 60
    assert (p.returncode, p.stdout) == (2, ""), p.stderr[-2000:]
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and f"the chat template file {big}" in lines[0] and "characters" in lines[0], lines
    assert "MemoryError" not in p.stderr
