"""The in-chat command words, parsed without a model: `/set` takes llama.cpp's names and refuses what
the flags refuse, in one line; every command `/help` lists is one the parser knows."""

from __future__ import annotations

import pytest

from localctx.core.chat_commands import COMMANDS, NAMES, SET_NAMES, help_text, parse, parse_set
from localctx.core.flags import SAMPLING_FLAG_NAMES, SamplingFlags
from localctx.core.sampling import SamplingSettings
from localctx.errors import SettingsError


@pytest.mark.parametrize(("arg", "field", "value"), [
    ("temp 0.7", "temperature", 0.7), ("--temp 0", "temperature", 0.0), ("temperature 1.2", "temperature", 1.2),
    ("top-k 40", "top_k", 40), ("top_k 0", "top_k", 0), ("TOP-P 0.9", "top_p", 0.9), ("min-p 0", "min_p", 0.0),
    ("repeat-penalty 1.1", "repeat_penalty", 1.1), ("repeat-last-n -1", "repeat_last_n", -1),
    ("dry-multiplier 0.8", "dry_multiplier", 0.8), ("dry-base 1.75", "dry_base", 1.75),
    ("dry-allowed-length 2", "dry_allowed_length", 2), ("dry-penalty-last-n -1", "dry_penalty_last_n", -1),
    ("seed 42", "seed", 42), ("seed -1", "seed", -1),
])
def test_set_takes_llama_cpp_names(arg: str, field: str, value: float) -> None:
    change = parse_set(arg)
    assert (change.field, change.value) == (field, value) and type(change.value) is type(value)


@pytest.mark.parametrize(("arg", "message"), [
    ("", "/set takes a name and a value (got '')"),
    ("temp", "/set takes a name and a value (got 'temp')"),
    ("temp 0.7 extra", "/set takes a name and a value"),
    ("warmth 1", "/set: unknown setting 'warmth'"),
    ("temp hot", "/set temp takes a number (got 'hot')"),
    ("top-k 1.5", "/set top-k takes a whole number (got '1.5')"),
    ("temp -1", "--temp must be 0 or more (got -1.0)"),
    ("temp nan", "--temp must be 0 or more (got nan)"),
    ("top-p 0", "--top-p must be above 0 and at most 1 (got 0.0)"),
    ("repeat-penalty 0", "--repeat-penalty must be greater than 0 (got 0.0)"),
    ("dry-base 0.5", "--dry-base must be 1 or more (got 0.5)"),
    ("repeat-last-n -2", "--repeat-last-n must be -1 or more (got -2)"),
    ("seed 4294967296", "/set seed must be between -1 and 4294967295 (got 4294967296)"),
    ("seed -2", "/set seed must be between -1 and 4294967295 (got -2)"),
])
def test_set_refuses_in_one_line_as_the_flags_do(arg: str, message: str) -> None:
    with pytest.raises(SettingsError) as e:
        parse_set(arg)
    assert e.value.one_line().startswith(message) and "\n" not in e.value.one_line()


def test_a_value_set_is_refused_exactly_when_the_flag_refuses_it() -> None:
    for flag in SAMPLING_FLAG_NAMES:
        for raw in ("-1", "0", "0.5", "1", "2"):
            try:
                SamplingFlags(**{flag: float(raw)}).overrides()
                flag_ok = True
            except SettingsError:
                flag_ok = False
            whole = flag in ("top_k", "repeat_last_n", "dry_allowed_length", "dry_penalty_last_n")
            if whole and raw == "0.5":
                continue
            try:
                parse_set(f"{flag.replace('_', '-')} {raw}")
                set_ok = True
            except SettingsError:
                set_ok = False
            assert set_ok == flag_ok, (flag, raw)


def test_every_sampling_flag_and_the_seed_can_be_set() -> None:
    assert set(SET_NAMES) == {n.replace("_", "-") for n in SAMPLING_FLAG_NAMES} | {"seed"}
    assert set(SET_NAMES.values()) <= set(SamplingSettings.__dataclass_fields__)


def test_help_lists_every_command_the_parser_knows() -> None:
    text = help_text()
    assert max(map(len, text.splitlines())) <= 80  # readable in an 80-column terminal, unwrapped
    for command, what in COMMANDS:
        assert f"  {command} " in text and what in text
    for name in ("/system", "/file", "/set", "/show", "/model", "/bye", "/save", "/tokens", "/clear", "/help"):
        assert parse(f"{name} x").known and name in text
    assert parse("/bye").leaves and parse("/quit").leaves and parse("/EXIT").leaves and not parse("/show").leaves
    assert not parse("/unknown").known
    assert parse("/system   Be brief.  ").arg == "Be brief." and set(NAMES) >= {"/q", "/exit", "/quit"}
