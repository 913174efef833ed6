"""``rmbench serve``: a reward model as an HTTP reward service for RL trainers (docs/serve.md).

An ASGI app (FastAPI, served by uvicorn) over a :class:`harness.scoring.Scorer` the caller builds:

* ``POST /get_reward``: OpenRLHF's remote reward model protocol (``openrlhf/cli/serve_rm.py``, the
  ``@app.post("/get_reward")`` handler). Its first form takes ``{"query": [text, …]}`` and answers
  ``{"rewards": [float, …]}``; later versions also send ``"prompts"`` (and ``"labels"``, through
  ``openrlhf/utils/remote_rm_utils.py``) and answer ``{"rewards", "scores", "extra_logs"}``. Both are accepted and
  the answer carries every key, so either version reads it. A query is the trainer's already rendered prompt +
  response: it is scored as given (:meth:`harness.data.encode.Encoder.split_rendered`), never templated again.
* ``POST /score``: ``{"items": [{"prompt": text or messages, "response": text} or {"messages": [...]}]}``,
  rendered with the model's own chat template, as ``rmbench eval`` renders pairs.
* ``GET /health``, ``GET /info`` (run id, method, model, settings).

Concurrent requests are micro-batched (:class:`MicroBatcher`): each request is tokenised as it arrives, then every
request waiting (at most ``max_wait_ms`` after the first) is scored in one call of the suites' scoring path
(:func:`harness.scoring.sequence_rewards`: sequences sorted by length and cut into length buckets under one token
budget), so a reward equals the offline one and throughput under concurrency approaches offline batch scoring.

Safe by default: binds to 127.0.0.1; with a token, every request needs ``Authorization: Bearer <token>`` (compared
in constant time, 401 otherwise); a body over ``max_bytes`` or more than ``max_items`` texts is refused with 413
naming the limit; malformed JSON, a missing field or a wrong type gives 422 naming the field; text over the model's
``max_length`` is truncated as ``eval`` truncates it and counted in the answer; an error in one request never stops
the server; SIGTERM stops accepting connections and finishes the requests in flight.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.requests import ClientDisconnect, Request  # at module level: FastAPI resolves the handlers' annotations

from harness.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ROUND_BATCHES = 8  # a model call takes up to this many × max_batch sequences of waiting requests


@dataclass(frozen=True)
class ServeSettings:
    """How the server listens and what it accepts (the ``rmbench serve`` options)."""

    host: str = "127.0.0.1"
    port: int = 5000
    max_batch: int = 64  # sequences in the first (longest) model batch; later batches fill the same token budget
    max_items: int = 1024  # texts in one request
    max_bytes: int = 8 * 1024 * 1024  # request body
    max_wait_ms: float = 5.0  # how long a model call waits for more requests after the first
    graceful_s: float = 60.0  # how long SIGTERM waits for the requests in flight

    def __post_init__(self):
        for name in ("max_batch", "max_items", "max_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.max_wait_ms <= 1000:
            raise ConfigError(f"--max-wait-ms must be between 0 and 1000, got {self.max_wait_ms}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {self.port}")


def read_token(path: str | Path | None) -> str | None:
    """The bearer token in ``path`` (surrounding whitespace dropped); None without a file."""
    if path is None:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--token-file: cannot read {path} ({getattr(e, 'strerror', None) or e})") from e
    if not token:
        raise ConfigError(f"--token-file: {path} is empty")
    return token


# -- requests -----------------------------------------------------------------------------------------------------
class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` with a message naming the field or the limit."""

    def __init__(self, status: int, detail: str, **extra):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def _models():
    """The request schemas (pydantic, imported on first use): strict strings, unknown keys allowed (OpenRLHF may
    send more than it needs)."""
    from pydantic import BaseModel, ConfigDict, StrictStr

    class Message(BaseModel):
        role: StrictStr
        content: StrictStr

    class Item(BaseModel):
        prompt: StrictStr | list[Message] | None = None
        response: StrictStr | None = None
        messages: list[Message] | None = None

    class ScoreRequest(BaseModel):
        model_config = ConfigDict(extra="allow")
        items: list[Item]

    class GetRewardRequest(BaseModel):
        model_config = ConfigDict(extra="allow")
        query: list[StrictStr]
        prompts: list[StrictStr] | None = None
        labels: list | None = None

    return ScoreRequest, GetRewardRequest


def parse(body: bytes, schema):
    """``body`` as an instance of ``schema``, or a 422 :class:`RequestError` naming the first bad field."""
    from pydantic import ValidationError

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(422, f"body: malformed JSON ({e})", field="body") from None
    if not isinstance(data, dict):
        raise RequestError(422, f"body: expected a JSON object, got {type(data).__name__}", field="body")
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(part) for part in error["loc"] if not str(part).startswith(("str", "list[")))
        where = where or "body"
        raise RequestError(422, f"{where}: {error['msg'].lower()}", field=where) from None


def score_items(request) -> tuple[list, list[str]]:
    """(prompts, responses) of a ``/score`` request; a 422 names an item of neither form."""
    prompts, responses = [], []
    for i, item in enumerate(request.items):
        if item.messages is not None:
            if item.prompt is not None or item.response is not None:
                raise RequestError(422, f"items.{i}: give either prompt and response or messages",
                                   field=f"items.{i}")
            messages = [m.model_dump() for m in item.messages]
            if len(messages) < 2 or messages[-1]["role"] != "assistant":
                raise RequestError(422, f"items.{i}.messages: expected a conversation ending with an assistant "
                                        f"message (the scored response)", field=f"items.{i}.messages")
            prompts.append(messages[:-1])
            responses.append(messages[-1]["content"])
        else:
            for name in ("prompt", "response"):
                if getattr(item, name) is None:
                    raise RequestError(422, f"items.{i}.{name}: field required (or give messages)",
                                       field=f"items.{i}.{name}")
            prompts.append(item.prompt if isinstance(item.prompt, str) else [m.model_dump() for m in item.prompt])
            responses.append(item.response)
    return prompts, responses


# -- micro-batching -----------------------------------------------------------------------------------------------
class MicroBatcher:
    """Scores the encoded sequences of concurrent requests together.

    ``await submit(seqs)`` queues one request's sequences; a worker task takes the first waiting request, waits at
    most ``max_wait_s`` for more while fewer than ``round_size`` sequences are waiting, and scores all it took in one
    ``scorer.rewards`` call on a single model thread (the suites' length-bucketed path), then hands each request its
    rewards. While the model runs, new requests queue up and form the next round."""

    def __init__(self, scorer, max_wait_s: float, round_size: int):
        self.scorer, self.max_wait_s, self.round_size = scorer, max_wait_s, round_size
        self.queue: asyncio.Queue = asyncio.Queue()
        self.model_thread = ThreadPoolExecutor(1, thread_name_prefix="rmbench-serve-model")
        self.rounds = 0
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self.model_thread.shutdown(wait=True)

    async def submit(self, seqs: list) -> list[float]:
        if not seqs:
            return []
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((seqs, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            size = len(jobs[0][0])
            deadline = loop.time() + self.max_wait_s
            while size < self.round_size:
                try:
                    job = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self.queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                jobs.append(job)
                size += len(job[0])
            jobs = [(seqs, future) for seqs, future in jobs if not future.done()]  # a cancelled request is dropped
            if not jobs:
                continue
            try:
                rewards = await loop.run_in_executor(self.model_thread, self.scorer.rewards,
                                                     [s for seqs, _ in jobs for s in seqs])
            except Exception as e:  # the model failed on this round: its requests get the error, the server goes on
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(e)
                continue
            self.rounds += 1
            start = 0
            for seqs, future in jobs:
                if not future.done():
                    future.set_result(rewards[start: start + len(seqs)])
                start += len(seqs)


# -- the app ------------------------------------------------------------------------------------------------------
def create_app(scorer, info: dict, settings: ServeSettings = ServeSettings(), token: str | None = None):
    """The FastAPI app serving ``scorer`` (:class:`harness.scoring.Scorer`); ``info`` is what ``GET /info`` shows
    about the model (run id, method, …)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    score_request, get_reward_request = _models()
    expected = None if token is None else f"Bearer {token}".encode()
    batcher = MicroBatcher(scorer, settings.max_wait_ms / 1000, settings.max_batch * ROUND_BATCHES)
    counters = {"requests": 0, "errors": 0, "texts": 0, "truncated": 0}

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="rmbench serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    def refuse(e: RequestError) -> JSONResponse:
        counters["errors"] += 1
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return JSONResponse({"detail": e.detail, **e.extra}, status_code=e.status, headers=headers)

    def authorise(request: Request) -> None:
        if expected is not None and not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                                            expected):
            raise RequestError(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    async def body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_bytes:
            raise RequestError(413, f"request body of {length} bytes is over the limit max_bytes="
                                    f"{settings.max_bytes}", limit="max_bytes", max=settings.max_bytes)
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > settings.max_bytes:
                raise RequestError(413, f"request body is over the limit max_bytes={settings.max_bytes}",
                                   limit="max_bytes", max=settings.max_bytes)
        return bytes(data)

    def check_items(n: int, field: str) -> None:
        if n > settings.max_items:
            raise RequestError(413, f"{field}: {n} texts is over the limit max_items={settings.max_items}",
                               limit="max_items", max=settings.max_items)

    async def rewards_of(field: str, encode, *args) -> tuple[list[float], list[bool]]:
        try:
            seqs, truncated = await run_in_threadpool(encode, *args)
        except Exception as e:  # a conversation the chat template refuses (an unsupported role, …)
            raise RequestError(422, f"{field}: cannot be encoded for this model ({type(e).__name__}: {e})",
                               field=field) from None
        rewards = await batcher.submit(seqs)
        bad = next((r for r in rewards if not math.isfinite(r)), None)
        if bad is not None:
            raise RequestError(500, f"the model produced a non-finite reward ({bad})")
        counters["requests"] += 1
        counters["texts"] += len(rewards)
        counters["truncated"] += sum(truncated)
        return rewards, truncated

    async def guarded(request: Request, handler):
        try:
            authorise(request)
            return await handler(await body(request) if request.method == "POST" else b"")
        except RequestError as e:
            return refuse(e)
        except ClientDisconnect:  # nobody to answer; the server goes on
            counters["errors"] += 1
            return JSONResponse({"detail": "client disconnected"}, status_code=400)
        except Exception as e:  # noqa: BLE001 - one bad request never stops the server
            return refuse(RequestError(500, f"{type(e).__name__}: {e}"))

    @app.post("/get_reward")
    async def get_reward(request: Request):
        async def handle(raw: bytes):
            req = parse(raw, get_reward_request)
            check_items(len(req.query), "query")
            if req.prompts is not None and len(req.prompts) != len(req.query):
                raise RequestError(422, f"prompts: {len(req.prompts)} prompts for {len(req.query)} queries",
                                   field="prompts")
            rewards, truncated = await rewards_of("query", scorer.encode_rendered, req.query, req.prompts)
            return {"rewards": rewards, "scores": rewards, "truncated": sum(truncated),
                    "extra_logs": {"truncated": [float(t) for t in truncated]}}

        return await guarded(request, handle)

    @app.post("/score")
    async def score(request: Request):
        async def handle(raw: bytes):
            req = parse(raw, score_request)
            check_items(len(req.items), "items")
            prompts, responses = score_items(req)
            rewards, truncated = await rewards_of("items", scorer.encode, prompts, responses)
            return {"rewards": rewards, "truncated": sum(truncated),
                    "truncated_items": [i for i, t in enumerate(truncated) if t]}

        return await guarded(request, handle)

    @app.get("/health")
    async def health(request: Request):
        async def handle(_):
            return {"status": "ok", "queued": batcher.queue.qsize()}

        return await guarded(request, handle)

    @app.get("/info")
    async def get_info(request: Request):
        async def handle(_):
            return {**info, "settings": {k: v for k, v in asdict(settings).items() if k not in ("host", "port")},
                    "auth": token is not None, "served": {**counters, "model_calls": batcher.rounds}}

        return await guarded(request, handle)

    return app


def run_server(scorer, info: dict, settings: ServeSettings = ServeSettings(), token: str | None = None,
               announce=print) -> None:
    """Serve until SIGINT / SIGTERM (uvicorn's handlers: stop accepting, finish the requests in flight for up to
    ``settings.graceful_s``, then stop the batcher)."""
    import uvicorn

    if settings.host not in LOOPBACK and token is None:
        announce(f"warning: serving on {settings.host} without --token-file: anyone who can reach this port can "
                 f"query the reward model")
    app = create_app(scorer, info, settings, token)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=settings.graceful_s, lifespan="on")
    server = uvicorn.Server(config)
    announce(f"serving {info.get('run_id') or info.get('model')} on http://{settings.host}:{settings.port} "
             f"(POST /get_reward, POST /score, GET /health, GET /info{'; bearer token required' if token else ''})")
    server.run()
