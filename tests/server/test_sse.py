"""The event stream's framing: an error after the first byte is one `data: {"error": ...}` event in
OpenAI's shape and then the end of the stream (no [DONE], nothing after it)."""

from __future__ import annotations

import asyncio
import json

from localctx.errors import RuntimeLoadError
from localctx.server.app import _Ids, _sse
from localctx.services.serve_render import Usage


def _run(events: list[tuple[str, object]], include_usage: bool = False) -> list[str]:
    async def collect() -> list[str]:
        q: asyncio.Queue = asyncio.Queue()
        for ev in events[1:]:
            q.put_nowait(ev)
        return [s async for s in _sse(q, events[0], _Ids("chat.completion", "smollm2"), include_usage)]

    return asyncio.run(collect())


def test_an_error_mid_stream_is_an_error_event_then_the_end() -> None:
    out = _run([("piece", "Hel"), ("piece", "lo"), ("error", RuntimeLoadError("llama.cpp failed to decode"))])
    assert all(s.startswith("data: ") and s.endswith("\n\n") for s in out)
    assert [json.loads(s[6:])["choices"][0]["delta"]["content"] for s in out[:2]] == ["Hel", "lo"]
    err = json.loads(out[2][6:])["error"]
    assert err["message"] == "llama.cpp failed to decode" and err["type"] == "server_error" and err["code"]
    assert len(out) == 3  # no [DONE]: the client sees the error, then the stream closes


def test_a_finished_stream_ends_with_finish_reason_usage_and_done() -> None:
    out = _run([("piece", "Hi"), ("done", Usage(10, 4, 1, "stop"))], include_usage=True)
    first, finish, usage = (json.loads(s[6:]) for s in out[:3])
    assert first["choices"][0]["delta"] == {"content": "Hi", "role": "assistant"}
    assert finish["choices"][0]["finish_reason"] == "stop" and finish["object"] == "chat.completion.chunk"
    assert usage["choices"] == [] and usage["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert out[3] == "data: [DONE]\n\n"


def test_a_reply_the_loop_guard_stopped_says_so_in_the_last_choice_chunk() -> None:
    async def collect() -> list[str]:
        q: asyncio.Queue = asyncio.Queue()
        q.put_nowait(("done", Usage(10, 0, 40, "stop", stop_reason="loop")))
        notices = ["reply stopped: it began repeating itself"]
        return [s async for s in _sse(q, ("piece", "Hi"), _Ids("chat.completion", "smollm2"), False, notices)]

    finish = json.loads((asyncio.run(collect()))[1][6:])
    assert finish["choices"][0]["finish_reason"] == "stop"  # what OpenAI clients know
    assert finish["localctx"] == {"stop_reason": "loop", "notices": ["reply stopped: it began repeating itself"]}


def test_the_restated_passage_is_named_in_the_last_choice_chunk() -> None:
    out = _run([("piece", "Hi"), ("done", Usage(10, 4, 1, "stop", stop_reason="eos", passage="Fact 3: twenty."))])
    assert json.loads(out[1][6:])["localctx"] == {"passage": "Fact 3: twenty."}


def test_an_ordinary_end_carries_no_extra_field() -> None:
    out = _run([("piece", "Hi"), ("done", Usage(10, 4, 1, "stop", stop_reason="eos"))])
    assert "localctx" not in json.loads(out[1][6:])
