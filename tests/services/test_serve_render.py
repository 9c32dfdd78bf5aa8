"""services/serve_render.py on the real smollm2 tokenizer and template: a request with documents renders
the very tokens `chat`/`ask` render for the same files (so they share saved KV states), a request that
does not fit is refused with the numbers, and an overflow policy cuts and says what it cut."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localctx.core.conversation import ChatOptions
from localctx.errors import ContextOverflowError
from localctx.services.chat_budget import DocText
from localctx.services.serve_render import ServeRequest, render

pytestmark = pytest.mark.model

TEXT = "".join(f"Fact {i}: the box in room {i} holds {i * 7} marbles.\n" for i in range(40))


@pytest.fixture(scope="module")
def engine(smollm2_path: Path) -> Iterator[Any]:
    from localctx.services.runtime import load_engine

    e = load_engine(smollm2_path, flags={"n_ctx": 1024, "n_threads": 1})
    yield e
    e.close()


def _req(engine: Any, **kw: Any) -> ServeRequest:
    base: dict[str, Any] = {"model": "smollm2", "model_path": engine.path, "options": ChatOptions(reply_tokens=8),
                            "max_tokens_given": True, "messages": ({"role": "user", "content": "How many?"},)}
    return ServeRequest(**{**base, **kw})


def test_documents_render_as_ask_renders_the_same_file(engine: Any) -> None:
    from localctx.services.chat import ChatSession
    from localctx.store import Document

    doc = Document(hashlib.sha256(TEXT.encode()).hexdigest(), "facts.txt", "/x/facts.txt", TEXT)
    chat = ChatSession(engine, model_ref="smollm2", documents=[doc], options=ChatOptions(reply_tokens=8))
    r = render(engine, _req(engine, documents=(DocText("facts.txt", TEXT),)))
    assert r.prefix == chat._prefix and len(r.prefix) > 400  # the key of the saved KV state is the same
    assert r.tokens == chat._fit_turn("How many?")  # and so is the whole prompt


def test_a_request_that_does_not_fit_is_refused_with_the_numbers(engine: Any) -> None:
    with pytest.raises(ContextOverflowError) as e:
        render(engine, _req(engine, options=ChatOptions(reply_tokens=900), documents=(DocText("facts.txt", TEXT),)))
    assert "reply room 900" in e.value.message and "n_ctx 1,024" in e.value.message and e.value.n_ctx == 1024


@pytest.mark.parametrize("policy", ["drop-oldest", "truncate-middle"])
def test_an_overflow_policy_cuts_documents_and_says_so(engine: Any, policy: str) -> None:
    r = render(engine, _req(engine, options=ChatOptions(reply_tokens=900, overflow=policy),
                            documents=(DocText("facts.txt", TEXT),)))
    assert len(r.tokens) + 900 <= 1024 and r.max_tokens == 900
    assert len(r.notices) == 1 and policy in r.notices[0] and "facts.txt" in r.notices[0]


def test_drop_oldest_drops_earlier_messages_before_the_question(engine: Any) -> None:
    old = tuple({"role": r, "content": f"message {i} " + "blah " * 60} for i, r in
                enumerate(["user", "assistant"] * 4))
    msgs = ({"role": "system", "content": "Be brief."}, *old, {"role": "user", "content": "Last?"})
    r = render(engine, _req(engine, messages=msgs, options=ChatOptions(reply_tokens=700, overflow="drop-oldest")))
    assert len(r.tokens) + 700 <= 1024 and r.notices
    text = engine.detokenize(r.tokens)
    assert "Be brief." in text and "Last?" in text and "message 0 " not in text


def test_completion_prompt_over_the_context_is_cut_only_when_asked(engine: Any) -> None:
    prompt = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, " * 60
    with pytest.raises(ContextOverflowError):
        render(engine, _req(engine, messages=(), prompt=prompt))
    r = render(engine, _req(engine, messages=(), prompt=prompt, options=ChatOptions(reply_tokens=8,
                                                                                    overflow="drop-oldest")))
    assert len(r.tokens) + 8 == 1024 and r.notices and r.prefix == []
