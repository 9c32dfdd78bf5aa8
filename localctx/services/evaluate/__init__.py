"""Measure what a context extension costs: passkey retrieval and perplexity by position.

Used by ``localctx eval`` and the TUI.  Every run loads the model once per (method, length) with the
settings the planner chose, through the load gate, records that plan and what llama.cpp says it
applied next to the numbers, and writes a results file under ``data_dir()/evals/`` so a result can be
reproduced.  Ctrl-C writes what was measured so far (``interrupted: true``) before the interrupt
propagates.

    runs.py        one loaded configuration (MethodRun) and the results file
    passkey.py     passkey retrieval by method x length x depth
    perplexity.py  perplexity by position over one window of a text

Self-Extend (grouped positions while the prompt is evaluated) lives with the engine:
``localctx.engine.self_extend``.
"""

from localctx.services.evaluate.passkey import MAX_ANSWER_TOKENS, PasskeyReport, PasskeyTrial, run_passkey, trial_keys
from localctx.services.evaluate.perplexity import PplReport, PplRun, read_text, run_ppl
from localctx.services.evaluate.runs import EvalProgress, MethodRun, check_methods, load_variant, resolve

__all__ = ["MAX_ANSWER_TOKENS", "EvalProgress", "MethodRun", "PasskeyReport", "PasskeyTrial", "PplReport", "PplRun",
           "check_methods", "load_variant", "read_text", "resolve", "run_passkey", "run_ppl", "trial_keys"]
