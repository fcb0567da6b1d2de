"""Create the FastAPI app: wire routers, load the model and index in the lifespan."""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant import __version__
from assistant.embed import Embedder
from assistant.embed.batching import batch_report
from assistant.engine import Engine
from assistant.errors import AssistantError, QueryError
from assistant.ingest.lineage import Similar, lazily
from assistant.search.loaded import LoadedIndex
from assistant.settings import Settings, current
from assistant.store import published_version
from web import api, feedback, pages, text
from web.desk import routes as desk
from web.desk.auth import Desk, Refused, desk_of
from web.guard import LOG_CONFIG, SECURITY_HEADERS, RequestGuard

log = logging.getLogger("mmn_assistant.web")

__all__ = ["LOG_CONFIG", "SECURITY_HEADERS", "IndexWatcher", "create_app"]

MAX_ERRORS_LISTED = 10
"""A 422 lists this many of pydantic's errors: a body of thousands of bad fields must not come
back as a response many times its size."""

API_PATHS = ("/api/", "/openapi.json")
"""Addresses whose errors are JSON in the documented shape; every other address gets a page."""


class IndexWatcher:
    """Swaps the served index when an editor publishes a new version, without a restart.

    A thread reads the `CURRENT` pointer every `interval` seconds (a read of a few bytes); on a
    new version it loads and checks it fully, then replaces `app.state.engine` in one
    assignment. A request takes the engine once, when it starts, so it finishes on the version
    it began with and never sees a mix. A version that fails to load is refused with a logged
    error, once, and the server keeps the version it has.
    """

    def __init__(
        self,
        app: FastAPI,
        index_dir: Path,
        embedder: Embedder,
        *,
        settings: Settings,
        interval: float = 1.0,
        refused: str | None = None,
    ) -> None:
        self._app = app
        self._index_dir = index_dir
        self._embedder = embedder
        self._settings = settings
        self._interval = interval
        self._refused = refused
        """The version last refused, not tried again until another is published."""
        self._damage: str | None = None
        """What was wrong with the published pointer, logged once until it changes."""
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
        served = self._app.state.engine.index.version
        try:
            published = published_version(self._index_dir)
        except AssistantError as exc:  # a damaged pointer: keep serving what is loaded
            if str(exc) != self._damage:
                self._damage = str(exc)
                log.error("still serving index version %s: %s", served, exc)
            return False
        self._damage = None
        if published is None or published in (served, self._refused):
            return False
        try:
            fresh = Engine.open(self._index_dir, self._embedder, settings=self._settings)
            fresh.warm()  # the new version's first answer is as quick as the next
        except AssistantError as exc:
            self._refused = published
            log.error("refused index version %s, still serving %s: %s", published, served, exc)
            return False
        self._app.state.engine = fresh
        self._refused = None
        log.info("now serving index version %s (was %s)", fresh.index.version, served)
        return True


def first_engine(
    settings: Settings, model: Embedder, shared: LoadedIndex | None
) -> tuple[Engine, str | None]:
    """The engine a server starts with, warmed, and the published version it refused, if any.

    The published version; in a forked worker, the version its master loaded and checked
    (`shared`) when the published one cannot be served. The workers already running have
    refused that version and kept theirs: a worker that replaces a dead one must not fail to
    start on it, or gunicorn would take it for a broken app and stop the whole server."""
    published = published_version(settings.index_dir)  # before: a later one may come meanwhile
    try:
        engine = Engine.open(settings.index_dir, model, loaded=shared, settings=settings)
        warmed = engine.warm()  # a worker's first clinician does not wait either
        refused = None
    except AssistantError as exc:
        if shared is None:
            raise
        refused = published
        log.error(
            "refused index version %s, serving %s as the master loaded it: %s",
            refused, shared.version, exc,
        )  # fmt: skip
        engine = Engine.from_loaded(settings.index_dir, shared, model, settings=settings)
        warmed = engine.warm()
    log.info("warmed: one answer in %.0f ms before serving", warmed * 1000)
    return engine, refused


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def full_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema of `app`, each operation with an id of its own. FastAPI names an
    operation after its route and whichever of the route's methods its set yields first, so GET
    and HEAD of /api/health shared one id, which OpenAPI forbids and client generators refuse:
    operations that share an id are each named after their own method."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
        schema = copy.deepcopy(FastAPI.openapi(app))  # FastAPI keeps its own: not changed
    sharing: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for operations in schema["paths"].values():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "operationId" in operation:
                sharing.setdefault(operation["operationId"], []).append((operations, method))
    suffix = re.compile(rf"_(?:{'|'.join(HTTP_METHODS)})$")
    for name, places in sharing.items():
        if len(places) > 1:
            for operations, method in places:
                renamed = f"{suffix.sub('', name)}_{method}"
                operations[method] = {**operations[method], "operationId": renamed}
    return schema


def part_of(full: dict[str, Any], keep: Callable[[str], bool]) -> dict[str, Any]:
    """An OpenAPI schema cut to the paths `keep` accepts and the component schemas they refer
    to, directly or through other components. `full` is cut in place: pass a copy of your own,
    as `full_schema` gives."""
    schema = full
    schema["paths"] = {p: v for p, v in schema["paths"].items() if keep(p)}
    components = schema.get("components", {}).get("schemas", {})
    wanted: set[str] = set()
    pending = [json.dumps(schema["paths"])]
    while pending:
        for name in re.findall(r'"#/components/schemas/([^"]+)"', pending.pop()):
            if name not in wanted and name in components:
                wanted.add(name)
                pending.append(json.dumps(components[name]))
    if components:
        schema["components"]["schemas"] = {k: v for k, v in components.items() if k in wanted}
    return schema


def _where(error: dict[str, Any]) -> str:
    """Where in the body, as the core names it: "history[0]", not pydantic's "history.0"."""
    where = ""
    for part in error.get("loc", ()):
        if isinstance(part, int):
            where += f"[{part}]"
        elif part != "body":
            where += f".{part}" if where else str(part)
    return where


def _validation_message(errors: list[dict[str, Any]]) -> str:
    """One sentence a person can act on, from pydantic's error list."""
    parts = []
    for error in errors[:3]:
        where = _where(error)
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "it cannot be parsed")
            at = next((p for p in reversed(error.get("loc", ())) if isinstance(p, int)), 0)
            message = f"the body is not valid JSON ({reason} at character {at})"
        elif not where:
            message = (
                "the body must be a JSON object such as "
                '{"question": "What is the first-line treatment?"}' + f" ({message.lower()})"
            )
        elif not message.startswith(where.split(".")[0]):
            message = f"{where}: {message}"
        parts.append(message)
    return "; ".join(parts)


def _http_message(request: Request, exc: StarletteHTTPException) -> str:
    """What an API client should do about an HTTP error raised by the router."""
    path = request.url.path
    if exc.status_code == 404:
        return f"there is nothing at {path}; the API's addresses are listed in /openapi.json"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{request.method} is not allowed on {path}; use {allowed or 'another method'}"
    return str(exc.detail)


def error_response(request: Request, status: int, message: str, detail: Any) -> Response:
    """An error in the documented shape for the API, a styled page for a person elsewhere."""
    if request.url.path.startswith(API_PATHS):
        return JSONResponse({"message": message, "detail": detail}, status_code=status)
    return pages.error_page(request, status, text.sentence(message))


def lineage_model(app: FastAPI, settings: Settings) -> Similar:
    """The model the desk traces rewordings with, as a build does: the served engine's own
    where it is the build's (not fine-tuned), else the base model, loaded the first time an
    edit needs it."""

    def load() -> Similar:
        from assistant.embed import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder.configured(settings).embed

    base = lazily(load)

    def similar(texts: Sequence[str]) -> np.ndarray:
        engine: Engine | None = getattr(app.state, "engine", None)
        model = engine.base_model() if engine is not None else None
        return model.embed(texts) if model is not None else base(texts)

    return similar


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    engine: Engine | None = None,
    watch: bool | None = None,
    shared: LoadedIndex | None = None,
) -> FastAPI:
    """The app. Tests pass a ready `engine`, served as it is; `serve` passes the engine it has
    loaded and checked, with `watch=True` so that published versions are swapped in.
    `watch` defaults to True without an engine and False with one. `shared`: the published
    version as a forked worker's master loaded it (see `web.serving`)."""
    settings = settings or current()
    watch = engine is None if watch is None else watch

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model: Embedder | None = None
        refused: str | None = None
        if engine is not None:
            app.state.engine = engine
            model = engine.embedder if watch else None
        else:
            from assistant.embed import SentenceTransformerEmbedder, serving

            # One cache of question vectors (and one batcher) for the life of the server,
            # across index swaps.
            model = serving(embedder or SentenceTransformerEmbedder.configured(settings), settings)
            model.load()  # healthy means ready: the first question does not wait for the model
            app.state.engine, refused = first_engine(settings, model, shared)
        served = app.state.engine.index
        how = ", as the master loaded it (shared)" if served is shared else ""
        log.info("serving index version %s%s", served.version, how)
        watcher = (
            IndexWatcher(app, settings.index_dir, model, settings=settings, refused=refused)
            if watch and model is not None
            else None
        )
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()
            report = None if model is None else batch_report(model)
            if report is not None:  # the batch sizes a load reached (bench/floor.py reads it)
                log.info("%s", report)

    app = FastAPI(
        title="Clinical retrieval assistant",
        version=__version__,
        description="Ranked, cited passages from reviewed articles, with the article's disclaimer.",
        lifespan=lifespan,
        redirect_slashes=False,  # "/api/ask/" is a 404 saying so, not a 307 a client may not follow
        docs_url=None,  # the interactive docs load scripts from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.feedback = feedback.Feedback.create(
        settings.feedback_db, settings.feedback_per_minute
    )
    app.state.desk = Desk.create(settings, app.state.feedback, lineage_model(app, settings))
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(feedback.router)
    app.include_router(desk.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.add_middleware(
        RequestGuard,
        reject=error_response,
        log_questions=settings.log_questions,
        max_in_flight=settings.max_in_flight,
        body_timeout=settings.body_timeout,
        shortcuts={"/api/ask": api.ask_shortcut},
        allowed_hosts=settings.hosts,
    )

    def openapi() -> dict[str, Any]:
        """The schema, with the ids of the articles served now as the values `article` takes.
        The desk's addresses are left out: they have a schema of their own."""
        schema = part_of(full_schema(app), lambda path: not path.startswith("/desk"))
        served = getattr(app.state, "engine", None)
        if served is not None:
            article = schema["components"]["schemas"]["AskRequest"]["properties"]["article"]
            for choice in article.get("anyOf", []):
                if choice.get("type") == "string":
                    choice["enum"] = sorted(served.index.articles)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/desk/openapi.json", include_in_schema=False)
    def desk_schema(request: Request) -> JSONResponse:
        """The desk's addresses, for schemathesis and for scripts (404 while the desk is off)."""
        desk_of(request)
        schema = part_of(full_schema(app), lambda path: path.startswith("/desk"))
        schema["info"] = {"title": "Editors' desk", "version": __version__}
        return JSONResponse(schema)

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> Response:
        return exc.response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors())[:MAX_ERRORS_LISTED]
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in raw]
        return JSONResponse(
            {"message": _validation_message(raw), "detail": errors}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """JSON in the documented shape for the API and its schema; a styled page elsewhere."""
        if request.url.path.startswith(API_PATHS):
            body = {"message": _http_message(request, exc), "detail": exc.detail}
            return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
        if request.url.path.startswith("/desk"):
            try:  # while the desk is off, its addresses do not exist, whatever the method
                desk_of(request)
            except Refused as off:
                return off.response
        response = pages.error_page(request, exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(QueryError)
    async def query_error(_: Request, exc: QueryError) -> JSONResponse:
        detail = [{"type": "value_error", "loc": ["body", *exc.loc], "msg": str(exc)}]
        return JSONResponse({"message": str(exc), "detail": detail}, status_code=422)

    return app
