"""Chat templates are untrusted code from a model file: compiled in Jinja's sandbox, rendered on a budget.

Jinja's ``ImmutableSandboxedEnvironment`` (what llama-cpp-python uses) stops a template from reading
files or calling into Python, but not from running forever or filling memory: nested ``range(99999)``
loops, ``9**(9**7)`` folded into one C-level big-integer operation that no Ctrl-C interrupts,
``lipsum(300000)``, a list of ten million items sorted in C, ``"x" * 9999999`` repeated into a
90 MB prompt.  Here:

- a template that does not compile is one line naming where it came from and Jinja's message;
- rendering runs under a step budget and a time budget: a trace function counts the lines the compiled
  template executes and stops it past either budget; the time is also checked on every Python call the
  render makes (a filter's own loop, textwrap), so work outside the template's frames is bounded too;
- work done in C is bounded by its inputs, checked before it runs: ``**``, ``*``, ``+``, ``%`` and
  ``~`` (the operators are intercepted; ``~`` is compiled to a checked join), every filter and every
  method a template calls (a width, a fill count, a repetition, a format width, a replacement's growth),
  lists are repeated to at most ``MAX_ITEMS`` items, and no text may grow past the render's cap on
  characters: a generous ``CHARS_PER_TOKEN`` per token of the context (a prompt past it could never fit);
- the rendered prompt, and the output of every block (``{% set %}``, a macro), is counted as it grows
  and stopped at the same cap;
- ``lipsum`` (lorem ipsum, no use in a chat prompt) is not offered.

Budgets are module constants so tests can lower them.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from localctx.errors import LocalctxError

#: lines of compiled template code one render may execute (a 1,000-message chat needs ~50,000)
RENDER_STEPS = 5_000_000
#: wall-clock seconds one render may take
RENDER_SECONDS = 5.0
#: the largest result ``**`` may produce (bits), and the most items a list may be repeated to
MAX_POW_BITS = 1 << 16
MAX_ITEMS = 1_000_000
#: characters a render may produce (and any text it builds may reach): this many per token of the
#: context, at least MIN_CHARS; a token is ~4 characters of text, so a prompt past the cap cannot fit
CHARS_PER_TOKEN = 64
MIN_CHARS = 1 << 20
#: real chat templates are a few KB; compiling is not budgeted, so its input is
MAX_TEMPLATE_CHARS = 1 << 20
_TEMPLATE_FILE = "<template>"
#: the widths and precisions in a %-format (and strftime) and in a {}-format's specs
_PCT_FIELD = re.compile(r"%[-+ #0]*(\d*)(?:\.(\d*))?")
_BRACE_SPEC = re.compile(r"\{[^{}:]*:([^{}]*)\}")


class TemplateBudgetError(Exception):
    """The template ran past its step or time budget, or asked for an enormous value."""


class _Budget:
    def __init__(self, steps: int, seconds: float, max_chars: int) -> None:
        self.left = steps
        self.steps = steps
        self.seconds = seconds
        self.max_chars = max_chars
        self.deadline = time.monotonic() + seconds
        self.lines = 0

    def trace(self, frame: Any, event: str, _arg: Any) -> Any:
        if event != "call":
            return None
        self._tick()
        return self._line if frame.f_code.co_filename == _TEMPLATE_FILE else None

    def _tick(self) -> None:
        self.lines += 1
        if not self.lines & 255 and time.monotonic() > self.deadline:
            raise TemplateBudgetError(f"more than {self.seconds:g} s")

    def _line(self, _frame: Any, event: str, _arg: Any) -> Any:
        if event == "line":
            self.left -= 1
            if self.left <= 0:
                raise TemplateBudgetError(f"more than {self.steps:,} steps")
            self._tick()
        return self._line

    def text(self, n: int, what: str) -> None:
        """Refuse building ``n`` characters of text past the cap."""
        if n > self.max_chars:
            raise TemplateBudgetError(f"{what} would be {n:,} characters, more than the {self.max_chars:,} a "
                                      "prompt for this context can hold")


#: the budget of the render in progress (renders run one at a time: the trace function is per thread,
#: and an engine renders from the thread that drives it)
_active: list[_Budget] = []


def _budget() -> _Budget:
    return _active[-1] if _active else _Budget(RENDER_STEPS, RENDER_SECONDS, MIN_CHARS)


def _size(x: Any) -> int:
    if isinstance(x, (str, bytes)):
        return len(x)
    if isinstance(x, (list, tuple)):
        return sum(len(i) if isinstance(i, str) else 8 for i in x)
    if isinstance(x, dict):  # a translation table, keyword values: what a call may insert
        return sum((len(k) if isinstance(k, str) else 8) + (len(v) if isinstance(v, str) else 8) for k, v in x.items())
    return 0


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_widths(fmt: str, args: Iterable[Any]) -> None:
    """A format string's field widths (``%0999999999d``, ``{:>999999999}``, ``*`` taken from an argument)."""
    b = _budget()
    widths = [w for m in _PCT_FIELD.finditer(fmt) for w in m.groups() if w]
    widths += [w for spec in _BRACE_SPEC.findall(fmt) for w in re.findall(r"\d+", spec)]
    for w in widths:
        b.text(int(w) if len(w) < 16 else 10**16, "a formatted field")
    if "*" in fmt:
        for a in args:
            if _is_int(a):
                b.text(abs(a), "a formatted field")


def _check_call(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a filter or method call whose result would be enormous, before it runs (in C, unbounded)."""
    b = _budget()
    every = (*args, *kwargs.values())
    base = _size(value)
    ints = [abs(a) for a in every if _is_int(a)]
    strs = [len(a) for a in every if isinstance(a, str)]
    for n in ints:  # a width, a fill count, an indent: never anywhere near this in a chat template
        b.text(n, f"'{name}' with the argument {n:,}")
    lines = value.count("\n") + 1 if isinstance(value, str) else 1
    if name in ("indent", "center", "ljust", "rjust", "zfill"):
        grow = lines * (sum(ints) + sum(strs))
    elif name == "expandtabs":
        grow = (value.count("\t") + lines if isinstance(value, str) else 1) * (sum(ints) or 8)
    elif name == "wordwrap":
        grow = (base // max(1, ints[0] if ints else 79) + lines) * max(strs or [1])
    elif name == "tojson":
        grow = (len(str(value)) + 1) * (sum(ints) + sum(strs)) if ints or strs else len(str(value))
    elif name == "replace" and isinstance(value, str) and args and isinstance(args[0], str):
        new = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        grow = (base // max(1, len(args[0])) + 1) * len(new)
    elif name == "join":
        items = args[0] if args and isinstance(value, str) else value  # sep.join(items) or items|join(sep)
        sep = value if isinstance(value, str) and args else (args[0] if args and isinstance(args[0], str) else "")
        n = len(items) if isinstance(items, (list, tuple, str)) else 0
        grow = _size(items) + n * len(sep)
    elif name in ("format", "format_map", "strftime_now"):
        fmt = value if isinstance(value, str) else args[0] if args and isinstance(args[0], str) else ""
        _check_widths(fmt, every)
        grow = sum(_size(a) for a in every)
    else:  # anything else may insert each text argument (a replacement, a translation) at every character
        grow = sum(_size(a) for a in every) * (base + 1) if base else 0
    b.text(base + grow, f"the result of '{name}'")


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # the context/environment
        value = args[skip] if len(args) > skip else None
        _check_call(name, value, args[skip + 1:], kwargs)
        return func(*args, **kwargs)
    return bounded


def bounded_join(parts: Iterable[Any]) -> str:
    """``a ~ b`` (and the final prompt): joined while counting, stopped at the cap."""
    b = _budget()
    out, n = [], 0
    for p in parts:
        s = p if isinstance(p, str) else str(p)
        n += len(s)
        b.text(n, "text")
        out.append(s)
    return "".join(out)


class _BoundedBuffer(list[Any]):
    """The output buffer of a ``{% set %}`` block, a macro or a filter block: counted as it fills (those
    join only at their end, so a loop could append gigabytes before any join saw them)."""

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0

    def _count(self, x: Any) -> None:
        self.chars += len(x) if isinstance(x, str) else 0
        _budget().text(self.chars, "text")

    def append(self, x: Any) -> None:
        self._count(x)
        super().append(x)

    def extend(self, xs: Iterable[Any]) -> None:
        xs = tuple(xs)
        for x in xs:
            self._count(x)
        super().extend(xs)


def _env_class() -> type:
    from jinja2.compiler import CodeGenerator
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedCodeGenerator(CodeGenerator):
        """``~`` joins through ``bounded_join`` (Jinja's own ``str_join`` is not intercepted), and block
        output collects in a counted buffer."""

        def buffer(self, frame: Any) -> None:
            frame.buffer = self.temporary_identifier()
            self.writeline(f"{frame.buffer} = environment.bounded_buffer()")

        def visit_Concat(self, node: Any, frame: Any) -> None:
            self.write("environment.bounded_join((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class BudgetedEnvironment(ImmutableSandboxedEnvironment):
        """The sandbox, with operators, filters and calls checked before they run."""

        intercepted_binops = frozenset({"**", "*", "+", "%"})
        code_generator_class = BoundedCodeGenerator

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.globals.pop("lipsum", None)

        def bound_filters(self) -> None:
            self.filters = {k: _bounded_filter(k, f) for k, f in self.filters.items()}

        @staticmethod
        def bounded_join(parts: Iterable[Any]) -> str:
            return bounded_join(parts)

        @staticmethod
        def bounded_buffer() -> list[Any]:
            return _BoundedBuffer()

        def concat(self, parts: Iterable[Any]) -> str:
            return bounded_join(parts)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            target = getattr(__obj, "__wrapped__", __obj)  # str.format arrives wrapped by the sandbox
            owner = getattr(target, "__self__", None)
            if isinstance(owner, (str, list, tuple, dict)):
                _check_call(getattr(target, "__name__", "call"), owner, args, kwargs)
            elif args or kwargs:
                _check_call(getattr(target, "__name__", "call"), None, args, kwargs)
            return super().call(__context, __obj, *args, **kwargs)

        def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
            if op == "+" and type(left) is str and type(right) is str:  # the common case, kept fast
                n = len(left) + len(right)
                if n > (_active[-1].max_chars if _active else MIN_CHARS):
                    _budget().text(n, "a sum")
                return left + right
            b = _budget()
            if op == "**" and _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
                if right * math.log2(abs(left)) > MAX_POW_BITS:
                    raise TemplateBudgetError(f"{left}**{right} is too large")
            if op == "*":
                seq, n = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
                if isinstance(seq, (str, list, tuple)) and _is_int(n):
                    if not isinstance(seq, str) and len(seq) * n > MAX_ITEMS:
                        raise TemplateBudgetError(f"a repetition of {len(seq) * n:,} items is too large")
                    b.text(_size(seq) * n, "a repetition")
                return operator.mul(left, right)
            if op == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                if not isinstance(left, str) and len(left) + len(right) > MAX_ITEMS:
                    raise TemplateBudgetError(f"a list of {len(left) + len(right):,} items is too large")
                b.text(_size(left) + _size(right), "a sum")
            if op == "%" and isinstance(left, str):
                values = right if isinstance(right, tuple) else (right,)
                _check_widths(left, values)
                b.text(len(left) + sum(_size(v) for v in values), "a formatted text")
            if op == "**":
                return operator.pow(left, right)
            return super().call_binop(context, op, left, right)

    return BudgetedEnvironment


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    line = getattr(exc, "lineno", None)
    return f"{text} (template line {line})" if line else text


class ChatTemplate:
    """One compiled template; renders what llama-cpp-python's Jinja2ChatFormatter passes (same variables,
    same ``tojson``, same ``{% generation %}`` pass-through) so prompts are identical."""

    def __init__(self, compiled: Any, *, bos: str, eos: str, add_generation_prompt: bool,
                 where: str = "the chat template", instead: str = "use another") -> None:
        self.compiled, self.bos, self.eos, self.add_generation_prompt = compiled, bos, eos, add_generation_prompt
        self.where, self.instead = where, instead  # how errors name the template, and what to do

    def __call__(self, *, messages: list[dict[str, str]]) -> str:
        from datetime import datetime

        def raise_exception(message: str) -> None:
            raise ValueError(message)

        def strftime_now(f: str) -> str:
            return datetime.now().strftime(f)

        return self.compiled.render(
            messages=messages, eos_token=self.eos, bos_token=self.bos, raise_exception=raise_exception,
            add_generation_prompt=self.add_generation_prompt, functions=None, function_call=None, tools=None,
            tool_choice=None, strftime_now=strftime_now)


def compile_formatter(template: str, *, bos: str, eos: str, add_generation_prompt: bool, model: Path,
                      origin: str | None = None) -> ChatTemplate:
    """Compile ``template`` in the budgeted sandbox (never in an environment that would constant-fold
    ``9**(9**7)`` while compiling).  ``origin``: where the template came from when it is not the model
    file's own (``--chat-template FILE``), named in every error instead of the model file."""
    import jinja2
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    where = origin or f"the chat template of {model.name}"
    instead = ("fix it, or pass a built-in name to --chat-template (chatml, llama3, gemma, plain)" if origin else
               "use another model file or give a chat template of your own")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise LocalctxError(f"{where} is {len(template):,} characters; localctx compiles at most "
                            f"{MAX_TEMPLATE_CHARS:,}", instead)
    try:
        env = _env_class()(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
                           extensions=[Jinja2ChatFormatter.IgnoreGenerationTags, "jinja2.ext.loopcontrols"])
        env.filters["tojson"] = Jinja2ChatFormatter.tojson
        env.bound_filters()
        compiled = env.from_string(template)
    except TemplateBudgetError as exc:
        raise _refused(where, str(exc), instead) from None
    except Exception as exc:  # noqa: BLE001 - TemplateSyntaxError and anything else Jinja raises compiling
        raise LocalctxError(f"{where} does not compile: {_one_line(exc)}",
                            ("the template is broken; " + instead) if origin else
                            "the model file's template is broken; use another file or give a chat template "
                            "of your own") from None
    return ChatTemplate(compiled, bos=bos, eos=eos, add_generation_prompt=add_generation_prompt, where=where,
                        instead=instead)


def _refused(where: str, why: str, instead: str) -> LocalctxError:
    return LocalctxError(f"{where} was stopped formatting one conversation: {why}",
                         f"the template loops, computes or grows without end; {instead}")


def render(fmt: ChatTemplate, messages: Sequence[dict[str, str]], *, model: Path, n_ctx: int = 0) -> str:
    """Render one conversation under the budget; one-line LocalctxError on a budget or template error.
    ``n_ctx``: the context the prompt is for; no text the render builds may pass a generous
    ``CHARS_PER_TOKEN`` characters per token of it."""
    budget = _Budget(RENDER_STEPS, RENDER_SECONDS, max(MIN_CHARS, n_ctx * CHARS_PER_TOKEN))
    previous = sys.gettrace()
    _active.append(budget)
    sys.settrace(budget.trace)
    try:
        return fmt(messages=list(messages))
    except TemplateBudgetError as exc:
        raise _refused(fmt.where, str(exc), fmt.instead) from None
    except Exception as exc:  # noqa: BLE001 - the template's own raise_exception and any Jinja error
        raise LocalctxError(f"{fmt.where} rejected the conversation: {_one_line(exc)}",
                            "check the message roles (some templates require user/assistant alternation)"
                            ) from None
    finally:
        sys.settrace(previous)
        _active.remove(budget)
