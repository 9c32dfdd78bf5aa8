"""How `plan` and `estimate` show a speed forecast (services.forecast makes it)."""

from __future__ import annotations

from typing import Any

from localctx.core.forecast import human_seconds


def forecast_rows(sf: Any) -> list[tuple[str, str]]:
    """(label, text) rows for a services.forecast.SpeedForecast: the ingest that fills the context,
    generation speed at that depth, the reply, and how sure it is; or how to get one."""
    f = sf.forecast
    busy = [("busy", sf.busy_note)] if sf.busy_note else []
    if f is None:
        return [("speed", sf.hint or "no speed forecast"), *busy]
    where = "measured on this model" if f.source == "measured" else f"scaled from {f.calibrated_on}, not measured"
    sure = f"±{f.band:.0%}, {where}"
    if f.source == "measured":
        sure += (f"; fit error prompt {f.fit_error.get('prompt', 0):.0%}, generation {f.fit_error.get('gen', 0):.0%}"
                 + (f"; {f.observations} real runs folded in" if f.observations else ""))
    if f.extrapolated:
        sure += "; deeper than calibrated"
    return [
        ("ingest", f"~{human_seconds(f.ingest_s)} for a {f.document_tokens:,}-token document "
                   f"({f.prompt_tok_s:,.0f} tok/s on average)"),
        ("generation", f"{f.gen_tok_s:,.1f} tok/s at depth {f.document_tokens:,}; "
                       f"a {f.reply_tokens}-token reply ~{human_seconds(f.reply_s)}"),
        ("forecast", sure),
        *busy,
    ]


def forecast_cells(sf: Any) -> tuple[str, str, str]:
    """Three short cells (ingest time, generation tok/s, reply time) for a table column."""
    f = sf.forecast
    if f is None:
        return ("?", "?", "?")
    mark = "" if f.source == "measured" else "*"
    return (f"~{human_seconds(f.ingest_s)}{mark}", f"{f.gen_tok_s:,.1f}{mark}", f"~{human_seconds(f.reply_s)}{mark}")
