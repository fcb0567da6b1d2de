"""Create the FastAPI app: wire routers, load the model and index in the lifespan."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant import __version__
from assistant.embedding import Embedder
from assistant.engine import Engine
from assistant.errors import AssistantError, QueryError
from assistant.index import published_version
from assistant.limits import MAX_BODY_BYTES
from assistant.settings import Settings
from web import api, pages

log = logging.getLogger("mmn_assistant.web")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class IndexWatcher:
    """Swaps the served index when an editor publishes a new version, without a restart.

    A thread reads the `CURRENT` pointer every `interval` seconds (a read of a few bytes); on a
    new version it loads and checks it fully, then replaces `app.state.engine` in one
    assignment. A request takes the engine once, when it starts, so it finishes on the version
    it began with and never sees a mix. A version that fails to load is refused with a logged
    error, once, and the server keeps the version it has.
    """

    def __init__(
        self, app: FastAPI, index_dir: Path, embedder: Embedder, *, interval: float = 1.0
    ) -> None:
        self._app = app
        self._index_dir = index_dir
        self._embedder = embedder
        self._interval = interval
        self._refused: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.check()

    def check(self) -> bool:
        """Load and serve the published version if it is new; True when it swapped."""
        published = published_version(self._index_dir)
        served = self._app.state.engine.index.version
        if published is None or published in (served, self._refused):
            return False
        try:
            fresh = Engine.open(self._index_dir, self._embedder)
        except AssistantError as exc:
            self._refused = published
            log.error("refused index version %s, still serving %s: %s", published, served, exc)
            return False
        self._app.state.engine = fresh
        self._refused = None
        log.info("now serving index version %s (was %s)", fresh.index.version, served)
        return True


def _validation_message(errors: list[dict[str, Any]]) -> str:
    """One sentence a person can act on, from pydantic's error list."""
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        parts.append(message if message.startswith(where.split(".")[0]) else f"{where}: {message}")
    return "; ".join(parts)


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    """The app. Tests pass a ready `engine`; `serve` passes the loaded `embedder`."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine is not None:  # a test's ready engine: served as it is, never swapped
            app.state.engine = engine
            log.info("serving index version %s", engine.index.version)
            yield
            return
        from assistant.embedding import SentenceTransformerEmbedder

        model = embedder or SentenceTransformerEmbedder(settings.model_path)
        load = getattr(model, "load", None)
        if load is not None:
            load()  # healthy means ready: the first question does not wait for the model
        app.state.engine = Engine.open(settings.index_dir, model)
        log.info("serving index version %s", app.state.engine.index.version)
        watcher = IndexWatcher(app, settings.index_dir, model)
        watcher.start()
        try:
            yield
        finally:
            watcher.stop()

    app = FastAPI(
        title="MMN clinical retrieval assistant",
        version=__version__,
        description="Ranked, cited passages from reviewed articles, with the article's disclaimer.",
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load scripts from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )
    app.state.settings = settings
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response: Any = JSONResponse(
                {
                    "message": f"the request body is larger than {MAX_BODY_BYTES} bytes",
                    "detail": "body too large",
                },
                status_code=413,
            )
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse(
            {"message": _validation_message(errors), "detail": errors}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """JSON for the API and its schema, as before; a styled page for a person elsewhere."""
        path = request.url.path
        if path.startswith(("/api/", "/openapi.json")):
            return await http_exception_handler(request, exc)
        response = pages.error_page(request, exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(QueryError)
    async def query_error(_: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"message": str(exc), "detail": str(exc)}, status_code=422)

    return app
