"""Stop strings in streamed text, without a model: what is shown, what is held back, where it cuts."""

from __future__ import annotations

from localctx.engine.stops import StopFilter


def _run(pieces: list[bytes], stop: list[str]) -> tuple[list[str], bool, str]:
    f = StopFilter(stop)
    shown: list[str] = []
    for p in pieces:
        text, hit = f.feed(p)
        if text:
            shown.append(text)
        if hit:
            return shown, True, ""
    return shown, False, f.flush()


def test_text_that_may_begin_a_stop_string_is_held_until_it_cannot() -> None:
    shown, hit, rest = _run([b"Hello <", b"|im", b"_x", b" done"], ["<|im_end|>"])
    assert (shown, hit, rest) == (["Hello ", "<|im_x", " done"], False, "")


def test_a_stop_string_cuts_the_reply_where_it_begins() -> None:
    shown, hit, _ = _run([b"one. ", b"two<|im", b"_end|>three"], ["<|im_end|>"])
    assert (shown, hit) == (["one. ", "two"], True)


def test_a_character_split_across_tokens_is_shown_whole() -> None:
    e_acute = "é".encode()
    shown, hit, rest = _run([b"caf", e_acute[:1], e_acute[1:], b"!"], [])
    assert "".join(shown) + rest == "café!" and "\ufffd" not in "".join(shown)


def test_what_was_held_back_comes_out_at_the_end() -> None:
    shown, hit, rest = _run([b"abc\n"], ["\n\n"])
    assert (shown, hit, rest) == (["abc"], False, "\n")
