"""Saved KV states across doors and restarts: a document read by `localctx ask` is served from its saved
state by `localctx serve`; a document the server read cold is found by the next server process; and
SIGTERM lets the running request finish before the process exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from localctx.core.conversation import QUESTION_ROOM
from tests.server.conftest import API_KEY
from tests.server.serve_proc import FLAGS, ServeProcess

pytestmark = pytest.mark.model


def _document(topic: str, n: int = 14) -> str:
    # what localctx reads from a text file: \n newlines, one at the end
    return "".join(f"{topic} {i}: the box in room {i} holds {i * 7} marbles and {i % 5} keys.\n" for i in range(n))


def _ask_with(client: Any, name: str, text: str, question: str) -> Any:
    return client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": question}],
                                          max_tokens=3, temperature=0,
                                          extra_body={"documents": [{"name": name, "text": text}]})


def test_a_document_read_by_ask_is_served_from_its_saved_state(server: ServeProcess, client: Any,
                                                              serve_env: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "facts.txt"
    doc.write_text(_document("Fact"))
    question = "How many marbles are in room 3?"
    r = subprocess.run([sys.executable, "-m", "localctx", "ask", "smollm2", *FLAGS, "--file", str(doc), question,
                        "-n", "3"], env=serve_env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    resp = _ask_with(client, "facts.txt", doc.read_text(), question)
    u = resp.usage
    cached = u.prompt_tokens_details.cached_tokens
    assert cached > 300 and u.prompt_tokens - cached < QUESTION_ROOM  # the document came from the state ask saved
    # the passage restated beside the question is named, as `ask --json` names it
    assert resp.model_extra["localctx"]["passage"] == "Fact 3: the box in room 3 holds 21 marbles and 3 keys."


def test_a_restarted_server_starts_from_the_state_it_saved(server: ServeProcess, client: Any,
                                                          serve_env: dict[str, str]) -> None:
    text = _document("Note")
    cold = _ask_with(client, "notes.txt", text, "What is in room 2?").usage
    assert cold.prompt_tokens - cold.prompt_tokens_details.cached_tokens > 300  # read cold, then saved
    import openai

    second = ServeProcess(["smollm2", *FLAGS, "--api-key", API_KEY], serve_env)
    try:
        c2 = openai.OpenAI(base_url=second.url, api_key=API_KEY, max_retries=0, timeout=120)
        warm = _ask_with(c2, "notes.txt", text, "What is in room 2?").usage
        assert warm.prompt_tokens == cold.prompt_tokens
        assert warm.prompt_tokens - warm.prompt_tokens_details.cached_tokens < QUESTION_ROOM
        # SIGTERM while a reply streams: the reply finishes, then the process exits 0
        stream = c2.completions.create(model="smollm2", prompt="1, 2, 3,", max_tokens=12, temperature=0,
                                       stream=True, stream_options={"include_usage": True})
        it = iter(stream)
        first = next(it)
        second.proc.send_signal(signal.SIGTERM)
        rest = list(it)
        assert first.choices and rest[-1].usage.completion_tokens == 12
        assert second.proc.wait(30) == 0
        assert second.wait_line(lambda s: "localctx serve: stopped" in s, 5) == "localctx serve: stopped"
    finally:
        second.stop(signal.SIGKILL)


def test_a_sliding_window_model_loads_on_request_and_reopens_from_its_state(server: ServeProcess,
                                                                           client: Any) -> None:
    """gemma-3-270m (sliding-window attention) is not the model the server started with: it is planned and
    loaded on its first request (the loaded one swapped out), and its document's saved state is found again
    after another model has been in between."""
    text = _document("Shelf")

    def ask(model: str, question: str) -> Any:
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                              max_tokens=2, temperature=0,
                                              extra_body={"documents": [{"name": "shelf.txt", "text": text}]}).usage

    cold = ask("gemma-3-270m", "What is on shelf 1?")
    assert server.health()["model"] == "gemma-3-270m"
    assert cold.prompt_tokens - cold.prompt_tokens_details.cached_tokens > 300
    client.completions.create(model="smollm2", prompt="Hi", max_tokens=1)  # swaps gemma out
    assert server.health()["model"] == "smollm2"
    warm = ask("gemma-3-270m", "What is on shelf 4?")
    assert warm.prompt_tokens - warm.prompt_tokens_details.cached_tokens < QUESTION_ROOM  # from the saved state
