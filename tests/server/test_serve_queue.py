"""The fair queue and cancel-on-disconnect of `localctx serve`, on a real server and the real client."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.server.conftest import API_KEY
from tests.server.serve_proc import ServeProcess

pytestmark = pytest.mark.model


def _client(server: ServeProcess) -> Any:
    import openai

    return openai.OpenAI(base_url=server.url, api_key=API_KEY, max_retries=0, timeout=120)


def test_a_client_that_disconnects_frees_the_engine(server: ServeProcess) -> None:
    client = _client(server)
    served = server.wait_health(lambda h: h["state"] == "idle", 60)["served"]
    stream = client.completions.create(model="smollm2", prompt="1, 2, 3, 4, 5,", max_tokens=1500, temperature=0,
                                       stream=True)
    it = iter(stream)
    assert next(it).choices[0].text  # generation is under way
    assert server.health()["state"] == "busy"
    stream.close()  # the client goes away mid-stream
    t0 = time.monotonic()
    h = server.wait_health(lambda h: h["state"] == "idle" and h["served"] > served, 2.0)
    assert time.monotonic() - t0 < 2.0 and h["queued"] == 0
    server.wait_line(lambda s: "cancelled (client gone)" in s, 5)
    r = client.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=3, temperature=0)
    assert r.choices[0].text and r.usage.completion_tokens == 3  # the engine is usable afterwards


def _stream(client: Any, prompt: str) -> tuple[str, int, float]:
    chunks = list(client.completions.create(model="smollm2", prompt=prompt, max_tokens=5, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    return text, chunks[-1].usage.completion_tokens, time.monotonic()


def test_eight_concurrent_streams_complete_in_order_uncorrupted(server: ServeProcess) -> None:
    prompts = [f"{10 * i + 1}, {10 * i + 2}, {10 * i + 3}," for i in range(8)]
    alone = {p: _stream(_client(server), p)[:2] for p in prompts}  # each prompt's reply with nobody else around
    results: dict[int, tuple[str, int, float]] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = _stream(_client(server), prompts[i])
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    start = server.health()["accepted"]
    threads = []
    for i in range(8):
        t = threading.Thread(target=run, args=(i,))
        t.start()
        threads.append(t)
        server.wait_health(lambda h, i=i: h["accepted"] >= start + i + 1, 30)  # submitted in this order
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 8
    assert [results[i][:2] for i in range(8)] == [alone[p] for p in prompts]  # nothing mixed between streams
    ends = [results[i][2] for i in range(8)]
    assert ends == sorted(ends)  # first come, first served


def test_a_full_queue_answers_503_with_retry_after(server: ServeProcess) -> None:
    import openai

    client = _client(server)
    blocker = client.completions.create(model="smollm2", prompt="1, 2, 3,", max_tokens=1500, temperature=0,
                                        stream=True)
    it = iter(blocker)
    next(it)  # the engine is busy with this one
    waiting: list[Any] = []
    try:
        results: list[BaseException | None] = []

        def wait_in_line() -> None:
            try:
                s = _client(server).completions.create(model="smollm2", prompt="a", max_tokens=1, stream=True)
                waiting.append(s)
                for _ in s:
                    pass
                results.append(None)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                results.append(exc)

        threads = [threading.Thread(target=wait_in_line) for _ in range(8)]  # --queue 8
        for t in threads:
            t.start()
        server.wait_health(lambda h: h["queued"] == 8, 30)
        with pytest.raises(openai.APIStatusError) as e:
            client.completions.create(model="smollm2", prompt="one too many", max_tokens=1)
        assert e.value.status_code == 503 and e.value.response.headers.get("retry-after")
        assert e.value.body["code"] == "queue_full"
    finally:
        blocker.close()
        for t in threads:
            t.join(60)
    assert results == [None] * 8  # the ones that were let in all got their answer


def test_a_client_that_leaves_during_prompt_work_stops_it(server: ServeProcess) -> None:
    import json
    import socket

    before = server.wait_health(lambda h: h["state"] == "idle", 60)
    served = before["served"]
    prompt = " ".join(f"item{i}" for i in range(400))  # long enough that reading it takes many seconds here
    body = json.dumps({"model": "smollm2", "prompt": prompt, "max_tokens": 4, "stream": True}).encode()
    host, port = server.base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + API_KEY.encode() + b"\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    server.wait_health(lambda h: h["state"] == "busy", 30)  # the prompt is being evaluated; no token yet
    sock.close()
    t0 = time.monotonic()
    after = server.wait_health(lambda h: h["state"] == "idle" and h["served"] > served, 2.0)
    assert time.monotonic() - t0 < 2.0
    # the prompt (~1,200 tokens) was not read to the end
    assert after["counters"]["prompt_tokens_evaluated"] - before["counters"]["prompt_tokens_evaluated"] < 900
    r = _client(server).completions.create(model="smollm2", prompt="Hello", max_tokens=2, temperature=0)
    assert r.usage.completion_tokens == 2
