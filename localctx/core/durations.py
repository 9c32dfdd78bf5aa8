"""Ages as users type them for clean-up commands: ``45s``, ``90m``, ``12h``, ``30d``, ``2w``.

The units are the ones ``find -mtime``, llm and Ollama users reach for; a bare number is refused
rather than guessed (is ``30`` days or seconds?).
"""

from __future__ import annotations

import re

from localctx.errors import SettingsError

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: a century: anything longer is a typo, and a cutoff before the epoch would overflow some platforms
_MAX_SECONDS = 100 * 365 * 86400


def parse_age(text: str, *, what: str = "--older-than") -> float:
    """``30d`` -> seconds.  SettingsError (exit 2) for a bare number, an unknown unit, zero or a
    negative age."""
    m = _AGE_RE.match(str(text).lower()) if text is not None else None
    if not m:
        raise SettingsError(f"cannot read {what} '{text}'",
                            "use a number and a unit: s, m, h, d or w (e.g. 30d, 12h, 2w)")
    seconds = float(m.group(1)) * _SECONDS[m.group(2)]
    if seconds <= 0:
        raise SettingsError(f"{what} must be longer than 0 (got '{text}')", "e.g. 30d")
    if seconds > _MAX_SECONDS:
        raise SettingsError(f"{what} '{text}' is longer than a century", "e.g. 30d or 52w")
    return seconds
