"""`decaqa serve`: one model, or one frozen base and its adapters, behind HTTP.

Requests from many clients go into one queue; a batcher takes what has gathered (up to
``max_batch``; after a pass that answered several requests, it waits for the next while they
arrive less than ``batch_timeout_ms`` apart; after one that answered a lone request it does
not wait) and answers it in one pass
through `QA.ask_many`, the one answering path: each request's task cap, the run's precision,
rank classification where ``choices`` are given, and a batch of mixed tasks routed to their
adapters (in one pass where the method allows: LoRA and IA3 per task). The model answers in
one thread beside the event loop, so health checks and refusals are answered while it works.

Endpoints: ``POST /ask``, ``POST /ask_batch``, ``GET /tasks``, ``GET /health`` (200 once the
model is loaded, 503 before) and the OpenAPI page (``/docs``). A bad request is a 4xx with one
sentence (`check_ask`), never a 500; a full queue is 503 with ``Retry-After``; SIGTERM stops
accepting, answers what is in flight, and exits 0 (uvicorn's own drain).

Built on FastAPI and uvicorn, the server LitServe itself runs on. LitServe was tried first
(0.2.19; docs/serve.md has the measurements): a body that is not JSON came back as a 500, one
bad request in a batch fails every request batched with it (its batched loop answers the
whole batch with the exception), and on SIGTERM the requests in flight were cut (the clients
read a closed connection). Hand-written here, as none of them does it: the batcher (a queue
and a loop, ~40 lines), the checks of a request, and the queue's bound.
"""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import threading
import time
from contextlib import asynccontextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from decaqa.errors import ConfigError, DecaqaError

FIELDS = ("question", "context", "task", "choices")
EXAMPLE = '{"question": "...", "context": "..."}'


@dataclass
class ServeSettings:
    """How the server batches and what it refuses.

    max_batch: requests answered in one pass at most.
    batch_timeout_ms: once a request is there, the batcher waits for more while they arrive
        less than this far apart (at most twenty times this in all), so that clients answered
        together and asking again together are batched together again; it does not wait
        when the last pass answered a single request (one client: no one to wait for).
    max_queue: requests waiting or being answered at most; past it, 503 with Retry-After.
    max_body_bytes: the largest request body accepted (413 past it).
    """

    max_batch: int = 32
    batch_timeout_ms: float = 10.0
    max_queue: int = 256
    max_body_bytes: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_queue", "max_body_bytes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, not "
                                  f"{getattr(self, name)}.")
        if self.batch_timeout_ms < 0:
            raise ConfigError(f"--batch-timeout-ms must be 0 or more, not "
                              f"{self.batch_timeout_ms}.")


class Refused(Exception):
    """A request refused: its status, one sentence, and any headers (Retry-After)."""

    def __init__(self, status: int, sentence: str, headers: Mapping[str, str] | None = None):
        super().__init__(sentence)
        self.status, self.sentence, self.headers = status, sentence, dict(headers or {})


def _kind(value: Any) -> str:
    """A JSON value's kind, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def check_ask(body: Any, tasks: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """One request checked: ``{"question", "context", "task", "choices"}`` (the last two None
    when left out), or `Refused` (422) with one sentence naming the field and the fix."""
    def refuse(sentence: str) -> Refused:
        return Refused(422, where + sentence)

    if not isinstance(body, dict):
        raise refuse(f"A request must be a JSON object like {EXAMPLE}, not {_kind(body)}.")
    unknown = [k for k in body if k not in FIELDS]
    if unknown:
        raise refuse(f"Unknown field '{unknown[0]}'; a request has question and context, and "
                     "may have task and choices.")
    for name in ("question", "context"):
        if body.get(name) is None:
            raise refuse(f"Field '{name}' is missing; send {EXAMPLE}.")
    for name in ("question", "context", "task"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise refuse(f"Field '{name}' must be a string, not {_kind(value)}.")
        if isinstance(value, str) and not value.strip():
            raise refuse(f"Field '{name}' is empty; give it in words"
                         + (" or leave it out." if name == "task" else "."))
    task = body.get("task")
    if task is not None and task not in tasks:
        raise refuse(f"Unknown task '{task}'; this server answers {', '.join(tasks)} "
                     "(or leave task out).")
    choices = body.get("choices")
    if choices is not None and (not isinstance(choices, list) or not choices or not all(
            isinstance(c, str) and c.strip() for c in choices)):
        raise refuse("Field 'choices' must be a non-empty list of non-empty strings, such as "
                     '["negative", "positive"].')
    return {"question": body["question"], "context": body["context"], "task": task,
            "choices": choices}


@dataclass
class _Job:
    item: dict[str, Any]
    future: asyncio.Future = field(repr=False)


class Server:
    """The app, its queue and its batcher, over a model ``load()`` gives (`decaqa.load`).

    The model loads in a thread once the server listens; until it is up, /health and the
    asking endpoints answer 503. ``failed`` holds the sentence if loading failed.
    """

    def __init__(self, load: Callable[[], Any], settings: ServeSettings | None = None,
                 name: str = "decaqa"):
        self.load, self.s, self.name = load, settings or ServeSettings(), name
        self.qa: Any = None
        self.failed: str | None = None
        self.pending = 0          # requests accepted and not yet answered
        self.batches = 0          # passes through the model, for /health and tests
        self.answered = 0
        self.largest_batch = 0
        self.on_failure: Callable[[], None] = lambda: None
        self._queue: asyncio.Queue[_Job] | None = None
        self._last_batch = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decaqa-answer")
        self.app = self._app()

    # -- the model and the batcher ----------------------------------------------------------
    async def _start(self) -> None:
        try:
            qa = await asyncio.get_running_loop().run_in_executor(self._pool, self.load)
        except DecaqaError as err:
            self.failed = str(err)
        except Exception as err:  # noqa: BLE001 - said in one sentence, then the server stops
            self.failed = f"the model could not be loaded ({type(err).__name__}: {err})"
        else:
            self.qa = qa
            return
        print(f"decaqa: {self.failed}", file=sys.stderr, flush=True)
        self.on_failure()

    async def _batcher(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            # wait for company only where company was seen: after a pass that answered one
            # request alone (one client), the next goes at once
            gap = self.s.batch_timeout_ms / 1000 if self._last_batch > 1 else 0.0
            last = loop.time()
            latest = last + 20 * gap  # the first request waits for company this long at most
            while len(batch) < self.s.max_batch:  # gather while requests keep arriving
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    last = loop.time()
                    continue
                now = loop.time()
                if now - last >= gap or now >= latest:
                    break
                await asyncio.sleep(min(0.001, gap))
            live = [job for job in batch if not job.future.done()]  # its client left
            try:
                results = await loop.run_in_executor(self._pool, self._answer,
                                                     [job.item for job in live])
            except Exception as err:  # noqa: BLE001 - every caller gets it, the loop goes on
                results = [err] * len(live)
            for job, result in zip(live, results):
                if job.future.done():
                    continue
                if isinstance(result, Exception):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)
            self.pending -= len(batch)
            self.batches += 1
            self.answered += len(live)
            self.largest_batch = max(self.largest_batch, len(live))
            self._last_batch = len(batch)

    def _answer(self, items: list[dict[str, Any]]) -> list[Any]:
        """One pass over a batch; should a request still fail there, it alone fails."""
        if not items:
            return []
        choices = ([i["choices"] for i in items] if any(i["choices"] for i in items)
                   else None)
        try:
            return self.qa.ask_many([(i["question"], i["context"]) for i in items],
                                    task=[i["task"] for i in items], choices=choices)
        except DecaqaError as err:
            if len(items) == 1:
                return [err]
            return [self._answer([item])[0] for item in items]

    async def submit(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue checked requests and wait for their answers (503 while loading or full)."""
        self._known()
        assert self._queue is not None  # made before the model starts loading
        if self.pending + len(items) > self.s.max_queue:
            raise Refused(503, f"The server is full ({self.pending} requests waiting, at "
                          f"most {self.s.max_queue}); ask again in a moment.",
                          {"Retry-After": "1"})
        loop = asyncio.get_running_loop()
        jobs = [_Job(item, loop.create_future()) for item in items]
        self.pending += len(jobs)
        for job in jobs:
            self._queue.put_nowait(job)
        try:
            return list(await asyncio.gather(*(job.future for job in jobs)))
        except DecaqaError as err:
            raise Refused(422, str(err)) from None

    # -- HTTP -------------------------------------------------------------------------------
    async def body(self, request: Any) -> Any:
        """The request's JSON, read up to ``max_body_bytes`` (413 past it, 400 if not JSON)."""
        limit = self.s.max_body_bytes
        too_big = Refused(413, f"The body is over {limit:,} bytes; send fewer or shorter "
                          "requests at a time.")
        if int(request.headers.get("content-length") or 0) > limit:
            raise too_big
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise too_big
        try:
            return json.loads(bytes(data))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise Refused(400, f"The body is not JSON ({type(err).__name__} at character "
                          f"{getattr(err, 'pos', 0)}); send {EXAMPLE} with Content-Type: "
                          "application/json.") from None

    @property
    def tasks(self) -> dict[str, Any]:
        return self.qa.info.tasks if self.qa is not None else {}

    def catalog(self) -> dict[str, Any]:
        """GET /tasks: each task's cap and beams, who answers it, its question and choices."""
        qa = self.qa
        return {"model": self.name,
                "tasks": {t: {"cap": qa.cap(t), "beams": qa.beams(t),
                              "answered_by": qa.answered_by(t),
                              "question": spec.get("question"), "choices": spec.get("choices")}
                          for t, spec in qa.info.tasks.items()},
                "adapters": qa.adapters.names if qa.adapters is not None else [],
                "default_cap": qa.cap(None), "max_source_tokens": qa.max_source_tokens,
                "precision": qa.precision, "settings": asdict(self.s)}

    def _app(self) -> Any:
        @asynccontextmanager
        async def lifespan(app: Any):
            self._queue = asyncio.Queue()
            batcher = asyncio.create_task(self._batcher())
            loading = asyncio.create_task(self._start())
            yield
            loading.cancel()
            batcher.cancel()
            self._pool.shutdown(wait=False, cancel_futures=True)

        app = FastAPI(title="decaqa serve", lifespan=lifespan,
                      description="Ask a decaqa model (and its adapters) questions.")

        @app.exception_handler(Refused)
        async def refused(request: Request, err: Refused) -> JSONResponse:
            return JSONResponse({"detail": err.sentence}, err.status, err.headers)

        @app.exception_handler(HTTPException)
        async def http_error(request: Request, err: HTTPException) -> JSONResponse:
            sentence = {404: f"There is no {request.url.path}; the endpoints are /ask, "
                             "/ask_batch, /tasks, /health and /docs.",
                        405: f"{request.url.path} does not take {request.method}; see /docs."}
            return JSONResponse({"detail": sentence.get(err.status_code, str(err.detail))},
                                err.status_code)

        @app.exception_handler(Exception)
        async def crashed(request: Request, err: Exception) -> JSONResponse:
            print(f"decaqa: {request.url.path} failed: {type(err).__name__}: {err}",
                  file=sys.stderr, flush=True)
            return JSONResponse({"detail": f"The server failed on this request "
                                 f"({type(err).__name__}); its log says more."}, 500)

        ask_schema = {"type": "object", "required": ["question", "context"],
                      "properties": {"question": {"type": "string"},
                                     "context": {"type": "string"},
                                     "task": {"type": "string"},
                                     "choices": {"type": "array", "items": {"type": "string"}}}}
        answer_doc = ('{"answer": str, "task": str or null, "truncated": bool, '
                      '"answered_by": "model" | "adapter <name>" | "base"}')

        @app.post("/ask", openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": ask_schema}}}},
            summary="Answer one question", description=f"Answers {answer_doc}.")
        async def ask(request: Request) -> dict[str, Any]:
            item = check_ask(await self.body(request), self._known())
            return (await self.submit([item]))[0]

        @app.post("/ask_batch", openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "object", "required": ["requests"],
                                            "properties": {"requests": {
                                                "type": "array", "items": ask_schema}}}}}}},
            summary="Answer many questions",
            description=f'Answers {{"answers": [{answer_doc}, ...]}} in order.')
        async def ask_batch(request: Request) -> dict[str, Any]:
            body = await self.body(request)
            requests = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(requests, list) or not requests:
                raise Refused(422, 'A batch must be a JSON object {"requests": [' + EXAMPLE
                              + ", ...]} with at least one request.")
            if len(requests) > self.s.max_queue:
                raise Refused(413, f"A batch holds at most {self.s.max_queue} requests, not "
                              f"{len(requests)}; send it in parts.")
            known = self._known()
            items = [check_ask(r, known, f"Request {i}: ") for i, r in enumerate(requests)]
            return {"answers": await self.submit(items)}

        @app.get("/tasks", summary="The tasks, their caps and who answers them")
        async def tasks() -> dict[str, Any]:
            self._known()
            return self.catalog()

        @app.get("/health", summary="200 once the model is loaded, 503 before")
        async def health() -> JSONResponse:
            ready = self.qa is not None
            return JSONResponse({"status": "ready" if ready else "loading",
                                 "pending": self.pending, "answered": self.answered,
                                 "batches": self.batches, "largest_batch": self.largest_batch},
                                200 if ready else 503, {} if ready else {"Retry-After": "2"})

        return app

    def _known(self) -> dict[str, Any]:
        if self.qa is None:
            raise Refused(503, "The model is still loading; ask again in a few seconds.",
                          {"Retry-After": "2"})
        return self.tasks


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so that a port in use is one sentence."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ConfigError(f"Cannot listen on {host}:{port} ({err.strerror}); give another "
                          "--port or --host.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Spawned:
    """``decaqa serve ARGS --port 0`` in a subprocess, for tests, benchmarks and notebooks:
    its address (read from the line it prints), ready (GET /health 200) within ``ready_s``
    seconds, and `stop` (SIGTERM: it drains and exits)."""

    def __init__(self, *args: str, ready_s: float = 180, env: Mapping[str, str] | None = None):
        import queue
        import re
        import subprocess
        import urllib.error
        import urllib.request

        self.proc = subprocess.Popen([sys.executable, "-m", "decaqa.cli", "serve", *args,
                                      "--port", "0"], stderr=subprocess.PIPE, text=True,
                                     env=None if env is None else dict(env))
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.time() + ready_s
        self.url = ""
        while not self.url and time.time() < deadline and self.proc.poll() is None:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            found = re.search(r" at (http://\S+:\d+) ", line)
            self.url = found.group(1) if found else ""
        while self.url and time.time() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop(5)
        raise RuntimeError(f"decaqa serve {' '.join(args)} was not ready within {ready_s:.0f} "
                           f"s: {self.stderr()[-2000:]}")

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)

    def stderr(self) -> str:
        """What the server has said on stderr since last asked."""
        out = []
        while not self.lines.empty():
            out.append(self.lines.get_nowait())
        return "".join(out)

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, and its exit code once it has drained (killed after ``timeout`` s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except Exception:  # noqa: BLE001 - it did not stop in time
            self.proc.kill()
            return None


def serve(model: str, adapters: str | None = None, base: str | None = None,
          other_base: bool = False, host: str = "127.0.0.1", port: int = 8000,
          settings: ServeSettings | None = None, log_level: str = "warning",
          trust_remote_code: bool = False, num_beams: int | None = None) -> int:
    """Run the server until SIGTERM or Ctrl-C; 0 once drained, 2 if the model failed.
    ``num_beams``: every task answered with this many beams instead of the run's own."""
    import uvicorn

    from decaqa import store
    from decaqa.qa import load

    store.answering_info(model, adapters, base, other_base)  # a wrong path: one sentence now
    store.check_num_beams(num_beams)
    server = Server(lambda: load(model, trust_remote_code=trust_remote_code, adapters=adapters,
                                 base=base, other_base=other_base, num_beams=num_beams),
                    settings,
                    name=str(adapters or model))
    sock = bind(host, port)
    config = uvicorn.Config(server.app, log_level=log_level, timeout_graceful_shutdown=60,
                            lifespan="on", access_log=log_level in ("debug", "info"))
    web = uvicorn.Server(config)

    def stop() -> None:
        web.should_exit = True
    server.on_failure = stop
    at = sock.getsockname()
    print(f"decaqa: serving {server.name} at http://{at[0]}:{at[1]} (model loading; "
          "GET /health says when it is ready)", file=sys.stderr, flush=True)
    # uvicorn drains on SIGTERM, then raises the signal again: with this no-op handler in
    # place, that ends run() instead of killing the process, and the exit code is 0
    previous = signal.signal(signal.SIGTERM, lambda *_: None) \
        if threading.current_thread() is threading.main_thread() else None
    started = time.time()
    try:
        web.run(sockets=[sock])
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sock.close()
    if server.failed:
        return 2
    print(f"decaqa: stopped after {time.time() - started:.0f} s; {server.answered} requests "
          f"answered in {server.batches} batches.", file=sys.stderr, flush=True)
    return 0
