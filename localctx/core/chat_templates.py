"""Chat templates a user can name with ``--chat-template``, and the plain prompt for models without one.

A GGUF normally carries its own Jinja chat template, and the engine renders with it.  Some models
ship none (gemma-3-270m's GGUF): rendering them with a foreign template (ChatML) makes the model
echo that template's markers (``<|im_end|>``) into its answers, because they are plain text to its
tokenizer.  Such models get ``PLAIN``: the documents, the question, and ``Answer:`` - a completion
prompt any base model continues sensibly.  ``--chat-template`` overrides both: a built-in name or a
Jinja file in the same dialect as the GGUF's (``messages``, ``add_generation_prompt``, ``bos_token``).
"""

from __future__ import annotations

from pathlib import Path

from localctx.errors import LocalctxError

#: documents (system), question (user), "Answer:"; a user message that already ends in a cue such
#: as "Summary:" gets no second one.  Newlines right after a tag are written as {{ '\\n' }}: the
#: renderer trims the first newline after a block tag
PLAIN = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}{{ m['content'] }}{% if not loop.last %}{{ '\\n' }}{% endif %}"
    "{% else %}Answer: {{ m['content'] }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt and not messages[-1]['content'].rstrip().endswith(':') %}{{ '\\n' }}Answer:{% endif %}"
)

#: where a plain-prompt reply ends: the model starting the next exchange itself
PLAIN_STOPS = ("\nAnswer:", "\nQuestion:", "<|im_end|>", "<|im_start|>", "<end_of_turn>")

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

#: Gemma has no system role: the system text opens the first user turn (and renders on its own as a
#: prefix of every later prompt, so the document prefix can be cached)
GEMMA = (
    "{{ bos_token }}{% set ns = namespace(open=false) %}{% for m in messages %}"
    "{% if m['role'] == 'system' %}<start_of_turn>user\n{{ m['content'] | trim }}\n\n{% set ns.open = true %}"
    "{% elif m['role'] == 'user' %}{% if not ns.open %}<start_of_turn>user\n{% endif %}{% set ns.open = false %}"
    "{{ m['content'] | trim }}<end_of_turn>\n"
    "{% else %}<start_of_turn>model\n{{ m['content'] | trim }}<end_of_turn>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

BUILTIN: dict[str, str] = {"chatml": CHATML, "llama3": LLAMA3, "gemma": GEMMA, "plain": PLAIN}


def template_origin(value: str | None) -> str | None:
    """How errors name the ``--chat-template`` given (None when none was: the model file's own)."""
    if value is None:
        return None
    key = value.strip().lower()
    if key in BUILTIN:
        return f"the built-in chat template '{key}'"
    return f"the chat template file {Path(value).expanduser()}"


def resolve_template(value: str | None) -> str | None:
    """``--chat-template`` as Jinja text: a built-in name or a file; None when not given."""
    if value is None:
        return None
    key = value.strip().lower()
    if key in BUILTIN:
        return BUILTIN[key]
    path = Path(value).expanduser()
    if path.is_file():
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LocalctxError(f"cannot read the chat template {path}: {exc}") from None
        if "{{" not in text and "{%" not in text:
            raise LocalctxError(f"{path} is not a Jinja chat template", "it needs {% for m in messages %}...")
        return text
    raise LocalctxError(f"unknown --chat-template '{value}'",
                        f"use a built-in name ({', '.join(BUILTIN)}) or the path of a Jinja template file")
