"""The JSON API: the contract every surface shares. Routes only validate, call the core, shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.answer import answer_to_dict
from assistant.engine import Engine
from assistant.errors import QueryError
from assistant.index import manifest_summary
from assistant.limits import (
    DEFAULT_K,
    MAX_HISTORY_ITEMS,
    MAX_K,
    MAX_QUESTION_CHARS,
    MIN_K,
    clean_question,
)

router = APIRouter(prefix="/api", tags=["api"])


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


class AskRequest(BaseModel):
    """A question, the earlier questions of the same conversation, and how many passages."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        description=f"The question, 1 to {MAX_QUESTION_CHARS} characters after trimming.",
        examples=["What IVIg dose is used?"],
    )
    history: list[str] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_ITEMS,
        description=f"Earlier questions of the conversation, oldest first (at most {MAX_HISTORY_ITEMS}).",
    )
    k: int = Field(
        default=DEFAULT_K, ge=MIN_K, le=MAX_K, description="How many ranked passages to return."
    )
    article: str | None = Field(
        default=None,
        max_length=200,
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

    @field_validator("history")
    @classmethod
    def _history(cls, value: list[str]) -> list[str]:
        try:
            return [clean_question(h, field=f"history[{i}]") for i, h in enumerate(value)]
        except QueryError as exc:
            raise ValueError(str(exc)) from None


class ReferenceOut(BaseModel):
    number: int
    text: str = Field(description="The reference entry as the article lists it.")


class PassageOut(BaseModel):
    rank: int
    id: str
    text: str = Field(
        description="The passage exactly as the article states it, citations removed."
    )
    score: float
    relevant: bool = Field(description="False when the passage is only the closest weak match.")
    kind: str
    section: list[str]
    citations: list[int] = Field(
        description="Reference numbers printed after the statement, in order."
    )
    context: str | None = Field(description="The lead-in sentence of the passage's section.")
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


class AskResponse(BaseModel):
    question: str
    history: list[str]
    answerable: bool
    message: str | None = Field(description="Set when the article does not cover the question.")
    passages: list[PassageOut]
    disclaimer: str = Field(description="The article's professional disclaimer, verbatim.")
    index: dict[str, Any]


class HealthResponse(BaseModel):
    status: str
    index: dict[str, Any]


class ErrorResponse(BaseModel):
    message: str = Field(description="What is wrong and what to fix, in one sentence.")
    detail: list[dict[str, Any]] | str


ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Request body too large"},
    422: {"model": ErrorResponse, "description": "Invalid request"},
}


@router.post("/ask", response_model=AskResponse, responses=ERRORS)
def ask(body: AskRequest, engine: EngineDep) -> JSONResponse:
    """Answer a question with ranked, cited passages and the article's disclaimer."""
    answer = engine.ask(body.question, body.history, body.k, article=body.article)
    # `answer_to_dict` is the documented shape (tests hold the two together); returning it as a
    # response skips re-validating every field of our own output on each request.
    return JSONResponse(answer_to_dict(answer))


@router.get("/health", response_model=HealthResponse)
def health(engine: EngineDep) -> dict[str, Any]:
    """200 with the served index's manifest summary once the index is loaded."""
    return {"status": "ok", "index": manifest_summary(engine.index.manifest)}
