"""`localctx serve` samples as `chat` does: the model's saved sampling applies to a request that leaves
a field out and a request's field beats it, like a flag; and a reply that loops is stopped by the same
loop guard, with finish_reason "stop" and localctx's own stop_reason "loop"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from localctx.core.loops import find_loop
from localctx.services.prompt import DEFAULT_SYSTEM
from tests.server.serve_proc import FLAGS, ServeProcess, server_env

pytestmark = pytest.mark.model

#: smollm2, greedy with no penalty, answers this with one phrase over and over (as in chat's guard test)
LOOPING = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": "Describe the package."}]
NO_PENALTY = {"repeat_penalty": 1.0, "dry_multiplier": 0.0}
#: the same as a plain completion prompt
LOOPING_PROMPT = "Describe the package.\n"
POEM = [{"role": "user", "content": "Write a short poem about the sea."}]


def _localctx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localctx", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_saved_sampling_applies_unless_the_request_sets_the_field(tmp_path: Path, models_dir: Path) -> None:
    import openai

    env = server_env(tmp_path, models_dir)
    saved = _localctx(env, "plan", "smollm2", "--temp", "1.5", "--save")
    assert saved.returncode == 0, saved.stderr
    srv = ServeProcess(["smollm2", *FLAGS, "--top-k", "40"], env)
    try:
        # said at start-up, in the words every command uses
        srv.wait_line(lambda s: "using saved settings for this model: --temp 1.5" in s, 5)
        plan = srv.get("/v1/localctx/plan")  # the server's flag and the saved value, together
        assert plan["sampling"]["temperature"] == 1.5 and plan["sampling"]["top_k"] == 40
        client = openai.OpenAI(base_url=srv.url, api_key="none", max_retries=0, timeout=120)

        def reply(**fields: Any) -> str:
            r = client.chat.completions.create(model="smollm2", messages=POEM, max_tokens=24, **{"seed": 7, **fields})
            return r.choices[0].message.content or ""

        omitted, explicit, greedy = reply(), reply(temperature=1.5), reply(temperature=0)
        assert omitted == explicit  # the saved temperature, exactly as if the request had sent it
        assert greedy != omitted  # and a request's own temperature beats the saved one
        assert reply(temperature=0, seed=99) == greedy  # (greedy: the seed changes nothing)
        assert _localctx(env, "plan", "smollm2", "--forget").returncode == 0
        assert reply() == greedy  # read when each request runs: forgotten, the defaults (greedy) apply
    finally:
        assert srv.stop() == 0


def test_a_looping_reply_is_stopped_with_finish_reason_stop(server: ServeProcess, client: Any) -> None:
    def ask(**extra: Any) -> Any:
        return client.chat.completions.create(model="smollm2", messages=LOOPING, max_tokens=96, temperature=0,
                                              extra_body={**NO_PENALTY, **extra})

    loose = ask(loop_guard=False)
    text = loose.choices[0].message.content or ""
    assert find_loop(text) is not None, text  # it does loop without the guard
    assert loose.choices[0].finish_reason == "length" and not (loose.model_extra or {}).get("localctx")

    r = ask()
    kept = r.choices[0].message.content or ""
    extra = (r.model_extra or {})["localctx"]
    assert r.choices[0].finish_reason == "stop" and extra["stop_reason"] == "loop"
    assert any("repeating itself" in n for n in extra["notices"])
    assert kept.strip() and find_loop(kept) is None and text.startswith(kept) and len(kept) < len(text)
    assert r.usage.completion_tokens < loose.usage.completion_tokens  # generation stopped, not just the text
    server.wait_line(lambda s: "/v1/chat/completions 200" in s and "began repeating itself" in s, 10)

    chunks = list(client.chat.completions.create(model="smollm2", messages=LOOPING, max_tokens=96, temperature=0,
                                                 stream=True, extra_body=NO_PENALTY))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert streamed == kept  # nothing of the repetition was sent before the guard saw it
    assert last.choices[0].finish_reason == "stop" and (last.model_extra or {})["localctx"]["stop_reason"] == "loop"


def test_plain_completions_have_no_loop_guard_unless_asked(client: Any) -> None:
    args = {"model": "smollm2", "prompt": LOOPING_PROMPT, "max_tokens": 96, "temperature": 0}
    plain = client.completions.create(**args, extra_body=NO_PENALTY)
    assert find_loop(plain.choices[0].text) is not None and plain.choices[0].finish_reason == "length"
    guarded = client.completions.create(**args, extra_body={**NO_PENALTY, "loop_guard": True})
    assert guarded.choices[0].finish_reason == "stop" and guarded.model_extra["localctx"]["stop_reason"] == "loop"
    assert plain.choices[0].text.startswith(guarded.choices[0].text)


def test_a_bad_sampling_flag_is_one_line_before_anything_loads(serve_env: dict[str, str]) -> None:
    r = _localctx(serve_env, "serve", "smollm2", "--top-p", "0", "--port", "0", "-t", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--top-p must be above 0" in r.stderr, r.stderr
    assert "listening" not in r.stderr


def test_the_log_and_health_give_the_reply_speed(server: ServeProcess, client: Any) -> None:
    question = [{"role": "user", "content": "Name three colours."}]
    r = client.chat.completions.create(model="smollm2", messages=question, max_tokens=8, temperature=0)
    out = r.usage.completion_tokens
    line = server.wait_line(lambda s: "/v1/chat/completions 200" in s and f"out {out} at " in s, 10)
    assert line.split(f"out {out} at ")[1].split()[1] == "tok/s"
    last = server.health()["last"]
    assert last["completion_tokens"] == out and last["gen_tok_s"] > 0
