"""What wraps every request: the API key, one log line, and no traceback ever reaching a client.

One line per request on stderr (``--json``: one JSON object per line, for log collectors): method,
path, status, model, prompt tokens (and how many came from the cache), reply tokens and their speed,
a reply the loop guard stopped, seconds.  An
exception that escapes a route becomes a 500 in OpenAI's error shape and one line, never a dead
server.
"""

from __future__ import annotations

import hmac
import json
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localctx.server.errors import ApiError, from_localctx

if TYPE_CHECKING:
    from localctx.server.app import ServerConfig
    from localctx.services.serving import Job

#: reachable without the API key: load balancers and scripts wait on it
OPEN_PATHS = {"/health"}


@dataclass
class RequestLog:
    method: str
    path: str
    status: int = 0
    model: str | None = None
    job: Job | None = None
    error: str | None = None
    t0: float = field(default_factory=time.perf_counter)

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "path": self.path, "status": self.status}
        if self.model:
            out["model"] = self.model
        job = self.job
        if job is not None and job.usage is not None:
            u = job.usage
            out.update(prompt_tokens=u.prompt_tokens, cached_tokens=u.cached_tokens,
                       completion_tokens=u.completion_tokens, kv_state=u.state, stop_reason=u.stop_reason)
            if u.gen_tok_s is not None:
                out["gen_tok_s"] = round(u.gen_tok_s, 2)
        elif job is not None and job.started is not None:
            out["cancelled"] = True
        if job is not None and job.notices:
            out["notices"] = job.notices
        if self.error:
            out["error"] = self.error
        out["seconds"] = round(time.perf_counter() - self.t0, 3)
        return out

    def line(self) -> str:
        r = self.record()
        parts = [f"{r['method']} {r['path']} {r['status']}"]
        if "model" in r:
            parts.append(r["model"])
        if "prompt_tokens" in r:
            parts.append(f"in {r['prompt_tokens']:,} (cached {r['cached_tokens']:,}) out {r['completion_tokens']:,}"
                         + (f" at {r['gen_tok_s']:.1f} tok/s" if "gen_tok_s" in r else ""))
        if r.get("stop_reason") == "loop":
            parts.append("stopped: the reply began repeating itself")
        if r.get("cancelled"):
            parts.append("cancelled (client gone)")
        parts += [f"{r['seconds']:.2f} s"] + ([r["error"]] if "error" in r else [])
        return " · ".join(parts)


def emit_line(text: str | dict[str, Any], json_logs: bool) -> None:
    """One line on stderr, as text or JSON."""
    if json_logs:
        obj = text if isinstance(text, dict) else {"message": text}
        line = json.dumps({"time": round(time.time(), 3), **obj}, ensure_ascii=False)
    else:
        line = text if isinstance(text, str) else json.dumps(text)
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: logging must never take a request down
        pass


class Guard:
    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config

    def _authorized(self, scope: Scope) -> bool:
        key = self.config.api_key
        if key is None or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            return True
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log = RequestLog(scope["method"], scope["path"])
        scope.setdefault("state", {})["log"] = log
        started = [False]

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
                log.status = message["status"]
            await send(message)

        try:
            if not self._authorized(scope):
                err = ApiError(401, "missing or wrong API key: send Authorization: Bearer KEY (--api-key)",
                               code="invalid_api_key")
                log.error = err.message
                await _send_error(watched, err)
                return
            await self.app(scope, receive, watched)
        except Exception as exc:  # noqa: BLE001 - a route's bug is one 500 and one line, never a dead server
            err = from_localctx(exc)
            log.error = err.message
            if not started[0]:
                await _send_error(watched, err)
        finally:
            emit_line(log.record() if self.config.json_logs else log.line(), self.config.json_logs)


async def _send_error(send: Send, err: ApiError) -> None:
    body = json.dumps(err.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (err.headers or {}).items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
