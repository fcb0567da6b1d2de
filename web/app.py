"""Create the FastAPI app: wire routers, load the model and index in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from assistant.errors import QueryError
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
        if engine is not None:
            app.state.engine = engine
        else:
            from assistant.embedding import SentenceTransformerEmbedder

            model = embedder or SentenceTransformerEmbedder(settings.model_path)
            app.state.engine = Engine.open(settings.index_dir, model)
        log.info("serving index version %s", app.state.engine.index.version)
        yield

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
