"""The JSON API: the contract every surface shares. Routes only validate, call the core, shape."""

from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.types import Scope

from assistant.answer import answer_to_dict
from assistant.engine import Engine
from assistant.errors import QueryError
from assistant.limits import (
    DEFAULT_K,
    MAX_ARTICLE_ID_CHARS,
    MAX_HISTORY_ITEMS,
    MAX_K,
    MAX_QUESTION_CHARS,
    MIN_K,
    QUESTION_PATTERN,
    Query,
    check_history_count,
    clean_history,
    clean_question,
)

QUESTION_SCHEMA: dict[str, Any] = {
    "minLength": 1,
    "maxLength": MAX_QUESTION_CHARS,
    "pattern": QUESTION_PATTERN,
}
"""The question limits in the schema, so clients and the schema fuzzer see them; the validators
below enforce them with messages that say what to fix."""


class ErrorResponse(BaseModel):
    """Every error the API returns, whatever its status."""

    message: str = Field(description="What is wrong and what to fix, in one sentence.")
    detail: list[dict[str, Any]] | str = Field(
        description="For a 422, the first errors found (each with `loc`, `msg`, `type`); "
        "otherwise the status in a few words."
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


router = APIRouter(
    prefix="/api",
    tags=["api"],
    responses={
        400: _error("The address is not valid UTF-8 once percent-decoded"),
        413: _error("Request body too large"),
        414: _error("Address (path and query string) too long"),
        500: _error("The server failed to answer; the error is logged. Try again"),
    },
)


async def get_engine(request: Request) -> Engine:
    """The engine serving now. `async` so that FastAPI reads it on the event loop: a plain
    function would cost every request a round trip through the thread pool (13 % of a cached
    answer's time in a profile)."""
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


class AskRequest(BaseModel):
    """A question, the earlier questions of the same conversation, and how many passages."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        description=(
            f"The question, at most {MAX_QUESTION_CHARS} characters; control characters and "
            "runs of white space become one space, and what remains must not be empty."
        ),
        examples=["What is the first-line treatment?"],
        json_schema_extra=QUESTION_SCHEMA,
    )
    history: list[str] = Field(
        default_factory=list,
        description=f"Earlier questions of the conversation, oldest first (at most {MAX_HISTORY_ITEMS}).",
        json_schema_extra={
            "maxItems": MAX_HISTORY_ITEMS,
            "items": {"type": "string", **QUESTION_SCHEMA},
        },
    )
    k: int = Field(
        default=DEFAULT_K, ge=MIN_K, le=MAX_K, description="How many ranked passages to return."
    )
    article: str | None = Field(
        default=None,
        max_length=MAX_ARTICLE_ID_CHARS,
        description="Only search this article (its id, as in /api/health); all articles if absent.",
        examples=[None],
    )

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        try:
            return clean_question(value)
        except QueryError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("history", mode="before")
    @classmethod
    def _history_count(cls, value: Any) -> Any:
        """The count first: a history of thousands is refused before one entry is read."""
        if isinstance(value, list):
            try:
                check_history_count(len(value))
            except QueryError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("history")
    @classmethod
    def _history(cls, value: list[str]) -> list[str]:
        try:
            return list(clean_history(value))
        except QueryError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("k", mode="before")
    @classmethod
    def _k(cls, value: Any) -> Any:
        """JSON numbers only: lax validation would read `true` or `"5"` as a k."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"k must be an integer from {MIN_K} to {MAX_K}, such as {DEFAULT_K}")
        return value


class ReferenceOut(BaseModel):
    number: int
    text: str = Field(description="The reference entry as the article lists it.")


class ItemOut(BaseModel):
    id: str
    text: str = Field(description="A statement of the lead-in's list, as the article states it.")
    citations: list[int]
    references: list[ReferenceOut] = Field(
        description="The reference entries its citations name, where the article's reference "
        "list is known (empty otherwise), as for the passage."
    )
    url: str = Field(description="The statement's place in the article view.")
    number: str = Field(
        default="",
        description='A numbered step\'s number as the article prints it ("2."), else empty.',
    )
    depth: int = Field(
        default=0, description="How deep in its list the statement is printed (0: not nested)."
    )


class PassageOut(BaseModel):
    rank: int
    id: str
    text: str = Field(
        description="The passage exactly as the article states it, citations removed."
    )
    score: float
    relevant: bool = Field(
        description="True for the passages close to the first in the ranker's scores; the others "
        "are less relevant. All false on a declined answer (answerable false): its passages are "
        "only the closest weak matches."
    )
    kind: str
    section: list[str]
    citations: list[int] = Field(
        description="Reference numbers printed after the statement, in order."
    )
    context: str | None = Field(description="The lead-in sentence of the passage's section.")
    context_citations: list[int] = Field(
        default_factory=list,
        description="The reference numbers the lead-in (`context`) prints: they cite its list.",
    )
    context_references: list[ReferenceOut] = Field(
        default_factory=list,
        description="The reference entries of `context_citations`, where the article lists them.",
    )
    items: list[ItemOut] = Field(
        default_factory=list,
        description="For a lead-in (a passage ending in ':'), the list it introduces, in the "
        "article's order; empty for any other passage.",
    )
    article_id: str
    article_title: str
    last_updated: str
    review_status: str
    source_line: int
    url: str = Field(description="The passage's place in the article view.")
    references: list[ReferenceOut] = Field(
        default_factory=list,
        description="The reference entries the passage cites, where the article lists them.",
    )
    number: str = Field(
        default="",
        description='A numbered step\'s number as the article prints it ("2."): the order '
        "of a protocol's steps; empty for any other passage.",
    )
    depth: int = Field(
        default=0,
        description="How deep in its list the passage is printed (0: not nested); a passage "
        "with its neighbour's number and depth is a later sentence of the same step.",
    )


class AskResponse(BaseModel):
    question: str
    history: list[str]
    answerable: bool
    message: str | None = Field(description="Set when the article does not cover the question.")
    unmentioned: list[str] = Field(
        default_factory=list,
        description="The question's rare words that no article mentions, when they declined it "
        "(the message is then set).",
    )
    passages: list[PassageOut]
    disclaimer: str = Field(description="The article's professional disclaimer, verbatim.")
    index: dict[str, Any]


class HealthResponse(BaseModel):
    status: str
    index: dict[str, Any]


ASK_ERRORS: dict[int | str, dict[str, Any]] = {
    408: _error("The request body did not arrive within MMN_BODY_TIMEOUT seconds"),
    415: _error("The body is not sent as application/json"),
    422: _error("Invalid request: not JSON, or a field outside the limits"),
    503: {  # /api/health is always answered: a busy replica is not a dead one
        **_error("The server is answering as many requests as it can; try again"),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before trying again (1)",
                "schema": {"type": "integer"},
            }
        },
    },
}


@router.post("/ask", response_model=AskResponse, responses=ASK_ERRORS)
async def ask(body: AskRequest, engine: EngineDep) -> Response:
    """Answer a question with ranked, cited passages and the article's disclaimer."""
    return Response(await answer_json(engine, body), media_type="application/json")


async def answer_json(engine: Engine, body: AskRequest) -> bytes:
    """The answer to a checked request, as the JSON the API returns. `answer_to_dict` is the
    documented shape (tests hold the two together); serialising it directly skips
    re-validating every field of our own output, and orjson takes 2 us where json takes 29."""
    query = Query(body.question, tuple(body.history))  # checked by AskRequest's validators
    answer = await engine.answer_async(query, body.k, article=body.article)
    return orjson.dumps(answer_to_dict(answer))


async def ask_shortcut(scope: Scope, raw: bytes) -> bytes | None:
    """`POST /api/ask` answered before the framework's routing (`web.guard.RequestGuard`): the
    body read as the route reads it (json, then AskRequest; a ValidationError is a
    ValueError), from the engine `get_engine` would give, or None whenever the route would
    answer otherwise, so that every refusal keeps its one documented shape."""
    engine = getattr(scope["app"].state, "engine", None)
    if engine is None:
        return None
    try:
        body = AskRequest.model_validate(json.loads(raw))
    except (ValueError, RecursionError):
        return None
    try:
        return await answer_json(engine, body)
    except QueryError:  # an article that does not exist: the route says so
        return None


@router.api_route("/health", methods=["GET", "HEAD"], response_model=HealthResponse)
def health(engine: EngineDep) -> dict[str, Any]:
    """200 with the served index's manifest summary once the index is loaded. HEAD too, for
    load balancers and uptime checks that ask for the status alone."""
    return {"status": "ok", "index": engine.index.manifest.summary()}
