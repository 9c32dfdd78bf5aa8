"""Sampling defaults: the numbers the engine, the services and both front ends share.

One place, so `chat`, `ask`, the TUI and the engine cannot drift apart.  The values are llama.cpp's
own defaults (``common_params_sampling``), except the repeat penalty, which llama.cpp leaves at 1.0.
"""

from __future__ import annotations

#: nucleus sampling: keep the smallest set of tokens whose probabilities add up to this
TOP_P = 0.95
#: drop tokens less likely than this fraction of the most likely one
MIN_P = 0.05
#: 1.0 = no penalty (what the engine applies unless a caller asks for one)
NO_REPEAT_PENALTY = 1.0
#: small models loop at temperature 0 ("The package is ... The package is ..."); llama.cpp's classic
#: 1.1 over the last 64 tokens stops that without changing short answers.  chat and ask use it.
REPEAT_PENALTY = 1.1
#: how many of the last tokens the repeat penalty looks at
REPEAT_LAST_N = 64
