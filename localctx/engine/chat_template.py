"""Chat templates are untrusted code from a model file: compiled in Jinja's sandbox, rendered on a budget.

Jinja's ``ImmutableSandboxedEnvironment`` (what llama-cpp-python uses) stops a template from reading
files or calling into Python, but not from running forever: nested ``range(99999)`` loops, or
``9**(9**7)`` folded into one C-level big-integer operation that no Ctrl-C interrupts.  Here:

- a template that does not compile is one line naming the file and Jinja's message;
- rendering runs under a step budget and a time budget: a trace function counts the lines the compiled
  template executes (only the template's own frames are traced, so a normal template pays ~microseconds)
  and stops it past either budget;
- ``**`` and ``*`` are intercepted: a power or a repetition whose result would be enormous is refused
  before Python starts computing it (and the intercept keeps Jinja from folding it at compile time).

Budgets are module constants so tests can lower them.
"""

from __future__ import annotations

import math
import operator
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localctx.errors import LocalctxError

#: lines of compiled template code one render may execute (a 1,000-message chat needs ~50,000)
RENDER_STEPS = 5_000_000
#: wall-clock seconds one render may take
RENDER_SECONDS = 5.0
#: the largest result ``**`` may produce (bits) and ``*`` may build (items)
MAX_POW_BITS = 1 << 16
MAX_REPEAT = 10_000_000
#: real chat templates are a few KB; compiling is not budgeted, so its input is
MAX_TEMPLATE_CHARS = 1 << 20
_TEMPLATE_FILE = "<template>"


class TemplateBudgetError(Exception):
    """The template ran past its step or time budget, or asked for an enormous value."""


class _Budget:
    def __init__(self, steps: int, seconds: float) -> None:
        self.left = steps
        self.steps = steps
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def trace(self, frame: Any, event: str, _arg: Any) -> Any:
        if event == "call" and frame.f_code.co_filename == _TEMPLATE_FILE:
            return self._line
        return None

    def _line(self, _frame: Any, event: str, _arg: Any) -> Any:
        if event == "line":
            self.left -= 1
            if self.left <= 0:
                raise TemplateBudgetError(f"more than {self.steps:,} steps")
            if not self.left & 1023 and time.monotonic() > self.deadline:
                raise TemplateBudgetError(f"more than {self.seconds:g} s")
        return self._line


def _sized(x: Any) -> bool:
    return isinstance(x, (str, list, tuple, bytes))


def _env_class() -> type:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BudgetedEnvironment(ImmutableSandboxedEnvironment):
        """The sandbox, with ``**`` and ``*`` checked before they run."""

        intercepted_binops = frozenset({"**", "*"})

        def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
            if op == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                if right * math.log2(abs(left)) > MAX_POW_BITS:
                    raise TemplateBudgetError(f"{left}**{right} is too large")
            if op == "*":
                seq, n = (left, right) if _sized(left) else (right, left)
                if _sized(seq) and isinstance(n, int) and len(seq) * n > MAX_REPEAT:
                    raise TemplateBudgetError(f"a repetition of {len(seq) * n:,} items is too large")
            if op == "**":
                return operator.pow(left, right)
            if op == "*":
                return operator.mul(left, right)
            return super().call_binop(context, op, left, right)

    return BudgetedEnvironment


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    line = getattr(exc, "lineno", None)
    return f"{text} (template line {line})" if line else text


class ChatTemplate:
    """One compiled template; renders what llama-cpp-python's Jinja2ChatFormatter passes (same variables,
    same ``tojson``, same ``{% generation %}`` pass-through) so prompts are identical."""

    def __init__(self, compiled: Any, *, bos: str, eos: str, add_generation_prompt: bool) -> None:
        self.compiled, self.bos, self.eos, self.add_generation_prompt = compiled, bos, eos, add_generation_prompt

    def __call__(self, *, messages: list[dict[str, str]]) -> str:
        from datetime import datetime

        def raise_exception(message: str) -> None:
            raise ValueError(message)

        return self.compiled.render(
            messages=messages, eos_token=self.eos, bos_token=self.bos, raise_exception=raise_exception,
            add_generation_prompt=self.add_generation_prompt, functions=None, function_call=None, tools=None,
            tool_choice=None, strftime_now=lambda f: datetime.now().strftime(f))


def compile_formatter(template: str, *, bos: str, eos: str, add_generation_prompt: bool, model: Path) -> ChatTemplate:
    """Compile ``template`` in the budgeted sandbox (never in an environment that would constant-fold
    ``9**(9**7)`` while compiling)."""
    import jinja2
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    if len(template) > MAX_TEMPLATE_CHARS:
        raise LocalctxError(f"the chat template of {model.name} is {len(template):,} characters; localctx "
                            f"compiles at most {MAX_TEMPLATE_CHARS:,}", "use another model file or give a chat "
                            "template of your own")
    try:
        env = _env_class()(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
                           extensions=[Jinja2ChatFormatter.IgnoreGenerationTags, "jinja2.ext.loopcontrols"])
        env.filters["tojson"] = Jinja2ChatFormatter.tojson
        compiled = env.from_string(template)
    except TemplateBudgetError as exc:
        raise _refused(model, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - TemplateSyntaxError and anything else Jinja raises compiling
        raise LocalctxError(f"the chat template of {model.name} does not compile: {_one_line(exc)}",
                            "the model file's template is broken; use another file or give a chat template "
                            "of your own") from None
    return ChatTemplate(compiled, bos=bos, eos=eos, add_generation_prompt=add_generation_prompt)


def _refused(model: Path, why: str) -> LocalctxError:
    return LocalctxError(f"the chat template of {model.name} was stopped: {why} to format one conversation",
                         "the template loops or computes without end; use another model file or a chat "
                         "template of your own")


def render(fmt: ChatTemplate, messages: Sequence[dict[str, str]], *, model: Path) -> str:
    """Render one conversation under the budget; one-line LocalctxError on a budget or template error."""
    budget = _Budget(RENDER_STEPS, RENDER_SECONDS)
    previous = sys.gettrace()
    sys.settrace(budget.trace)
    try:
        return fmt(messages=list(messages))
    except TemplateBudgetError as exc:
        raise _refused(model, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the template's own raise_exception and any Jinja error
        raise LocalctxError(f"the model's chat template rejected the conversation: {_one_line(exc)}",
                            "check the message roles (some templates require user/assistant alternation)"
                            ) from None
    finally:
        sys.settrace(previous)
