"""The HTTP routes of `localctx serve` (Starlette): OpenAI's shapes over services/serving.py.

Starlette rather than FastAPI: the routes are few, bodies are checked by our own typed parsing
(server/schema.py) so that every refusal reads like the rest of localctx, and it is FastAPI's own
foundation without pydantic on top.  Generation runs on the serving core's one worker thread; a route
only parses, queues a job and relays its events, so a waiting client never stalls a running one.

What OpenAI's shapes have no word for travels in one extra top-level object, ``"localctx"``, on the
response (and on a stream's last choice chunk): ``notices`` (what was cut or changed), ``passage`` (the
part of the request's documents restated beside its last question, as ``ask --json`` names it) and
``stop_reason: "loop"`` when the loop guard ended the reply.  OpenAI's own ``finish_reason`` then says
"stop" (the reply ended by itself, not at max_tokens), so clients that know nothing of localctx read
a normal reply: the openai client keeps unknown fields (``model_extra``) and others ignore them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from localctx.server.errors import ApiError, from_localctx
from localctx.server.schema import Defaults, Parsed, parse_chat, parse_completion
from localctx.server.watch import Guard, RequestLog
from localctx.services.serve_render import Usage
from localctx.services.serving import Event, Job, ServingCore

#: bodies larger than this are refused before they are read whole (a 16K-token document is ~64 KiB)
MAX_BODY = 8 * 1024 * 1024
#: how often a waiting route checks that its client is still there
POLL_S = 0.25


@dataclass
class ServerConfig:
    defaults: Defaults = field(default_factory=Defaults)
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_body: int = MAX_BODY
    json_logs: bool = False


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


# ---- helpers ---------------------------------------------------------------------------------------
async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is {int(declared):,} bytes; this server takes at most {limit:,} "
                       "(--max-body)", code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body is over {limit:,} bytes (--max-body)", code="request_too_large")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None


class Models:
    """Model ids as users type them -> files, and the catalog with each model's planned context."""

    def __init__(self, core: ServingCore) -> None:
        self.core = core
        self._paths: dict[str, Path] = {}
        self._plans: dict[str, dict[str, Any]] = {}

    def resolve(self, ref: str) -> Path:
        if ref not in self._paths:
            from localctx.models.catalog import resolve_model

            self._paths[ref] = resolve_model(ref)
        return self._paths[ref]

    def card(self, name: str, source: str) -> dict[str, Any]:
        from localctx.errors import LocalctxError

        if name not in self._plans:
            try:
                rp = self.core.plan(name)
                self._plans[name] = {"context_length": rp.settings.n_ctx, "fits": rp.verdict.fits,
                                     "path": str(rp.info.path)}
            except LocalctxError as exc:
                self._plans[name] = {"context_length": None, "fits": None, "path": None, "error": exc.one_line()}
        card = dict(self._plans[name])
        lm = self.core.loaded
        loaded = lm is not None and card.get("path") is not None and Path(card["path"]) == lm.engine.path
        if loaded and lm is not None:
            card["context_length"] = lm.engine.n_ctx
        return {"id": name, "object": "model", "created": 0, "owned_by": "localctx", "source": source,
                **card, "loaded": loaded}

    def listing(self) -> list[dict[str, Any]]:
        from localctx.models.catalog import all_entries

        cards = [self.card(e.name, e.source) for e in all_entries()]
        lm = self.core.loaded
        if lm is not None and not any(c["loaded"] for c in cards):  # served by path: list it too
            cards.append(self.card(lm.ref, "path"))
        return cards


# ---- the routes ------------------------------------------------------------------------------------
class Routes:
    def __init__(self, core: ServingCore, config: ServerConfig) -> None:
        self.core, self.config, self.models = core, config, Models(core)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", **self.core.status()})

    async def list_models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": await run_in_threadpool(self.models.listing)})

    async def get_model(self, request: Request) -> Response:
        ref = request.path_params["model"]
        path = await run_in_threadpool(self._resolve, ref)
        cards = [c for c in await run_in_threadpool(self.models.listing) if c.get("path") == str(path)]
        return JSONResponse(cards[0] if cards else await run_in_threadpool(self.models.card, ref, "path"))

    async def plan(self, request: Request) -> Response:
        """The load gate's plan (what `localctx plan --json` prints) for the loaded model, or ``?model=``."""
        ref = request.query_params.get("model")
        lm = self.core.loaded
        if ref is None and lm is None:
            raise ApiError(404, "no model is loaded; ask for one with ?model=NAME", code="model_not_loaded")
        if ref is None and lm is not None:
            return JSONResponse({"id": lm.ref, "loaded": True, **lm.plan.to_json()})
        await run_in_threadpool(self._resolve, ref or "")
        rp = await run_in_threadpool(self.core.plan, ref or "")
        loaded = lm is not None and lm.engine.path == rp.info.path
        return JSONResponse({"id": ref, "loaded": loaded, **rp.to_json()})

    def _resolve(self, ref: str) -> Path:
        try:
            return self.models.resolve(ref)
        except Exception as exc:  # noqa: BLE001 - mapped to the HTTP answer, never a traceback
            raise from_localctx(exc) from None

    async def chat(self, request: Request) -> Response:
        return await self._generate(request, parse_chat, "chat.completion")

    async def completions(self, request: Request) -> Response:
        return await self._generate(request, parse_completion, "text_completion")

    async def _generate(self, request: Request, parse: Any, kind: str) -> Response:
        body = await read_json(request, self.config.max_body)
        parsed: Parsed = parse(body, self.config.defaults)
        log: RequestLog = request.scope["state"]["log"]
        log.model = parsed.request.model
        path = await run_in_threadpool(self._resolve, parsed.request.model)
        req = replace(parsed.request, model_path=path)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def emit(ev: Event) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, ev)
            except RuntimeError:  # the loop is gone (shutdown): nobody is listening any more
                pass

        job = Job(req, emit)
        log.job = job
        try:
            self.core.submit(job)
        except Exception as exc:  # noqa: BLE001 - QueueFull, shutting down
            raise from_localctx(exc) from None
        ids = _Ids(kind, req.model)
        first = await _next_event(events, request, job)
        if first is None:  # the client went away while waiting
            return Response(status_code=499)
        if first[0] == "error":
            raise from_localctx(first[1])
        if parsed.stream:
            return _JobStream(_sse(events, first, ids, parsed.include_usage, job.notices), job)
        pieces = []
        ev: Event | None = first
        while ev is not None and ev[0] == "piece":
            pieces.append(ev[1])
            ev = await _next_event(events, request, job)
        if ev is None:
            return Response(status_code=499)
        if ev[0] == "error":
            raise from_localctx(ev[1])
        usage = ev[1]
        text = "".join(pieces)
        if kind == "chat.completion":
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                      "logprobs": None, "finish_reason": usage.finish_reason}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": usage.finish_reason}
        return JSONResponse({**ids.head(), "choices": [choice], "usage": usage.to_json(),
                             **_extra(usage, job.notices)})


@dataclass
class _Ids:
    kind: str
    model: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))

    def head(self, chunk: bool = False) -> dict[str, Any]:
        obj = self.kind + (".chunk" if chunk and self.kind == "chat.completion" else "")
        prefix = "chatcmpl-" if self.kind == "chat.completion" else "cmpl-"
        return {"id": prefix + self.id, "object": obj, "created": self.created, "model": self.model}


async def _next_event(events: asyncio.Queue[Event], request: Request, job: Job) -> Event | None:
    """The job's next event; None (and the job cancelled) when the client has gone away meanwhile."""
    while True:
        try:
            return await asyncio.wait_for(events.get(), POLL_S)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                job.cancel()
                return None


def _extra(usage: Usage, notices: Sequence[str]) -> dict[str, Any]:
    """The ``localctx`` object of a response: what OpenAI's fields cannot say (absent when nothing is)."""
    extra: dict[str, Any] = {}
    if usage.stop_reason == "loop":
        extra["stop_reason"] = "loop"
    if notices:
        extra["notices"] = list(notices)
    if usage.passage:
        extra["passage"] = usage.passage
    return {"localctx": extra} if extra else {}


def _data(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _sse(events: asyncio.Queue[Event], first: Event, ids: _Ids, include_usage: bool,
               notices: Sequence[str] = ()) -> AsyncIterator[str]:
    """The job's events as server-sent events; ``notices``: the job's (complete when "done" arrives)."""
    chat = ids.kind == "chat.completion"

    def chunk(delta: str | None, finish: str | None = None) -> dict[str, Any]:
        if chat:
            d: dict[str, Any] = {} if delta is None else {"content": delta}
            if delta is not None and first_chunk[0]:
                d["role"] = "assistant"
                first_chunk[0] = False
            choice = {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": delta or "", "logprobs": None, "finish_reason": finish}
        return {**ids.head(chunk=True), "choices": [choice]}

    first_chunk = [True]
    ev = first
    while True:
        if ev[0] == "piece":
            yield _data(chunk(ev[1]))
        elif ev[0] == "done":
            usage = ev[1]
            if first_chunk[0] and chat:
                yield _data(chunk(""))
            yield _data({**chunk(None, usage.finish_reason), **_extra(usage, notices)})
            if include_usage:
                yield _data({**ids.head(chunk=True), "choices": [], "usage": usage.to_json()})
            yield "data: [DONE]\n\n"
            return
        else:  # an error after the first byte: an error event, then the stream ends
            yield _data(from_localctx(ev[1]).body())
            return
        ev = await events.get()


class _JobStream(StreamingResponse):
    """A server-sent event stream that cancels its job however it ends: finished, failed, or cut off by a
    client that went away (Starlette stops the body when the disconnect arrives)."""

    def __init__(self, content: AsyncIterator[str], job: Job) -> None:
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.job = job

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.job.cancel()


# ---- the application -------------------------------------------------------------------------------
def build_app(core: ServingCore, config: ServerConfig) -> Starlette:
    r = Routes(core, config)
    routes = [
        Route("/health", r.health, methods=["GET"]),
        Route("/v1/models", r.list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", r.get_model, methods=["GET"]),
        Route("/v1/chat/completions", r.chat, methods=["POST"]),
        Route("/v1/completions", r.completions, methods=["POST"]),
        Route("/v1/localctx/plan", r.plan, methods=["GET"]),
    ]
    middleware = [Middleware(Guard, config=config)]
    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        middleware.insert(0, Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                                        allow_methods=["GET", "POST", "OPTIONS"],
                                        allow_headers=["Authorization", "Content-Type"]))

    async def api_error(request: Request, exc: Exception) -> Response:
        err = exc if isinstance(exc, ApiError) else from_localctx(exc)
        log = request.scope.get("state", {}).get("log")
        if log is not None:
            log.error = err.message
        return error_response(err)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return await api_error(request, ApiError(exc.status_code, f"{request.method} {request.url.path}: "
                                                 f"{exc.detail}", code=code))

    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={ApiError: api_error, HTTPException: http_error},
                     lifespan=_lifespan(core))


def _lifespan(core: ServingCore) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        core.start()
        try:
            yield
        finally:
            await run_in_threadpool(core.close)

    return lifespan
