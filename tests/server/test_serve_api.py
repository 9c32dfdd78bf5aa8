"""`localctx serve` through the real `openai` client and raw HTTP: chat and completions, streamed and
not, exact usage, the catalog, prefix reuse across turns, and every bad request's 4xx body."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from tests.server.conftest import API_KEY, ORIGIN
from tests.server.serve_proc import ServeProcess

pytestmark = pytest.mark.model

HI = [{"role": "user", "content": "Say hello in one word."}]


def _evaluated(server: ServeProcess) -> int:
    """prompt + generated tokens llama.cpp itself counted (its perf counters, read by the server)."""
    c = server.wait_health(lambda h: h["state"] == "idle", 30)["counters"]
    return c["prompt_tokens_evaluated"] + c["tokens_generated"]


def test_chat_usage_is_what_llama_cpp_evaluated(server: ServeProcess, client: Any) -> None:
    # llama.cpp reports max(1, n) for a counter: compare after both have moved past zero
    client.completions.create(model="smollm2", prompt="Hello there", max_tokens=2, temperature=0)
    before = _evaluated(server)
    r = client.chat.completions.create(model="smollm2", messages=HI, max_tokens=6, temperature=0)
    u = r.usage
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens and 0 < u.completion_tokens <= 6
    evaluated = u.prompt_tokens - u.prompt_tokens_details.cached_tokens
    assert _evaluated(server) - before == evaluated + u.completion_tokens


def test_streamed_chat_then_second_turn_reuses_the_prefix(client: Any) -> None:
    chunks = list(client.chat.completions.create(model="smollm2", messages=HI, max_tokens=6, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = chunks[-1].usage
    assert text and finish in (["stop"], ["length"]) and chunks[-1].choices == []
    assert usage.completion_tokens > 0
    turn2 = [*HI, {"role": "assistant", "content": text}, {"role": "user", "content": "And in French?"}]
    r = client.chat.completions.create(model="smollm2", messages=turn2, max_tokens=4, temperature=0)
    cached = r.usage.prompt_tokens_details.cached_tokens
    assert cached >= usage.prompt_tokens  # the whole first prompt (and most of the reply) stayed in the KV cache
    assert r.usage.prompt_tokens - cached < 30  # only the new turn was evaluated


def test_completions_streamed_and_not(client: Any) -> None:
    r = client.completions.create(model="smollm2", prompt="1, 2, 3, 4,", max_tokens=6, temperature=0)
    assert r.object == "text_completion" and r.choices[0].text.strip().startswith("5")
    assert r.usage.completion_tokens == 6 and r.choices[0].finish_reason == "length"
    streamed = list(client.completions.create(model="smollm2", prompt="1, 2, 3, 4,", max_tokens=6, temperature=0,
                                              stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == r.choices[0].text
    assert streamed[-1].usage.completion_tokens == 6
    assert streamed[-1].usage.prompt_tokens_details.cached_tokens == r.usage.prompt_tokens - 1


def test_models_list_the_catalog_with_planned_context(client: Any) -> None:
    cards = {m.id: m for m in client.models.list().data}
    assert "smollm2" in cards and "gemma-3-270m" in cards
    smol = cards["smollm2"].model_dump()
    assert smol["loaded"] is True and smol["context_length"] == 2048
    assert cards["gemma-3-270m"].model_dump()["loaded"] is False
    assert client.models.retrieve("smollm2").id == "smollm2"


def test_plan_endpoint_reports_the_loaded_models_plan(server: ServeProcess) -> None:
    plan = server.get("/v1/localctx/plan", API_KEY)
    assert plan["id"] == "smollm2" and plan["loaded"] is True
    assert plan["settings"]["n_ctx"] == 2048 and plan["verdict"]["fits"] is True and "extension" in plan


def _post(server: ServeProcess, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    host, port = server.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None, dict(r.getheaders())


def _chat(**fields: Any) -> bytes:
    return json.dumps({"model": "smollm2", "messages": HI, "max_tokens": 2, **fields}).encode()


AUTH = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
BAD = [  # (name, path, body, headers, status, code, param)
    ("no api key", "/v1/chat/completions", _chat(), {}, 401, "invalid_api_key", None),
    ("wrong api key", "/v1/chat/completions", _chat(), {"Authorization": "Bearer nope"}, 401, "invalid_api_key", None),
    ("bad json", "/v1/chat/completions", b'{"model": ', AUTH, 400, "invalid_json", None),
    ("not an object", "/v1/chat/completions", b"[1, 2]", AUTH, 400, "invalid_json", None),
    ("no model", "/v1/chat/completions", json.dumps({"messages": HI}).encode(), AUTH, 400,
     "missing_required_parameter", "model"),
    ("unknown model", "/v1/chat/completions", _chat(model="no-such-model"), AUTH, 404, "model_not_found", "model"),
    ("empty messages", "/v1/chat/completions", _chat(messages=[]), AUTH, 400, "invalid_value", "messages"),
    ("messages not a list", "/v1/chat/completions", _chat(messages="hi"), AUTH, 400, "invalid_value", "messages"),
    ("bad role", "/v1/chat/completions", _chat(messages=[{"role": "robot", "content": "x"}]), AUTH, 400,
     "invalid_value", "messages[0].role"),
    ("temperature a string", "/v1/chat/completions", _chat(temperature="hot"), AUTH, 400, "invalid_value",
     "temperature"),
    ("max_tokens zero", "/v1/chat/completions", _chat(max_tokens=0), AUTH, 400, "invalid_value", "max_tokens"),
    ("repeat penalty zero", "/v1/chat/completions", _chat(repeat_penalty=0), AUTH, 400, "invalid_value",
     "repeat_penalty"),
    ("DRY base below 1", "/v1/chat/completions", _chat(dry_base=0.5), AUTH, 400, "invalid_value", "dry_base"),
    ("n > 1", "/v1/chat/completions", _chat(n=2), AUTH, 400, "unsupported_parameter", "n"),
    ("tools", "/v1/chat/completions", _chat(tools=[{"type": "function", "function": {"name": "f"}}]), AUTH, 400,
     "unsupported_parameter", "tools"),
    ("logprobs", "/v1/chat/completions", _chat(logprobs=True), AUTH, 400, "unsupported_parameter", "logprobs"),
    ("unknown field", "/v1/chat/completions", _chat(frobnicate=1), AUTH, 400, "unknown_parameter", "frobnicate"),
    ("stream_options without stream", "/v1/chat/completions", _chat(stream_options={"include_usage": True}), AUTH,
     400, "invalid_value", "stream_options"),
    ("bad overflow policy", "/v1/chat/completions", _chat(overflow="squeeze"), AUTH, 400, "invalid_value",
     "overflow"),
    ("image part", "/v1/chat/completions", _chat(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]), AUTH, 400, "invalid_value", "messages[0].content"),
    ("completion without prompt", "/v1/completions", json.dumps({"model": "smollm2"}).encode(), AUTH, 400,
     "missing_required_parameter", "prompt"),
    ("body too large", "/v1/chat/completions", _chat(messages=[{"role": "user", "content": "x" * 70000}]), AUTH,
     413, "request_too_large", None),
    ("unknown route", "/v1/embeddings", _chat(), AUTH, 404, "not_found", None),
]


@pytest.mark.parametrize(("name", "path", "body", "headers", "status", "code", "param"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_openai_shaped_4xx(server: ServeProcess, name: str, path: str, body: bytes,
                                             headers: dict[str, str], status: int, code: str, param: str | None
                                             ) -> None:
    got, data, _ = _post(server, path, body, headers)
    assert got == status, data
    err = data["error"]
    assert err["code"] == code and err["param"] == param and err["message"] and err["type"]
    assert server.health()["status"] == "ok"  # the server is alive, whatever came before


def test_over_context_is_refused_with_the_numbers(server: ServeProcess) -> None:
    long = [{"role": "user", "content": "apple banana cherry " * 900}]
    status, data, _ = _post(server, "/v1/chat/completions", _chat(messages=long), AUTH)
    assert status == 400 and data["error"]["code"] == "context_length_exceeded"
    msg = data["error"]["message"]
    assert "n_ctx 2,048" in msg and "reply room 2" in msg and "nothing was truncated" in msg
    status, data, _ = _post(server, "/v1/chat/completions", _chat(max_tokens=4000), AUTH)
    assert status == 400 and "reply room 4,000" in data["error"]["message"]


def test_health_needs_no_key_and_cors_allows_only_the_given_origin(server: ServeProcess) -> None:
    assert server.health()["status"] == "ok"
    host, port = server.base.removeprefix("http://").split(":")
    for origin, allowed in ((ORIGIN, True), ("http://evil.example", False)):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("OPTIONS", "/v1/chat/completions", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        r = conn.getresponse()
        r.read()
        conn.close()
        assert (r.getheader("access-control-allow-origin") == origin) is allowed
