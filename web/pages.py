"""The clinician's page: thin routes over `Engine.ask` that render one context object each.

Server-rendered and complete without JavaScript. Every template is autoescaped; the only
markup built in Python is the matched-word emphasis, assembled from escaped pieces
(`web.text.emphasise`).
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from assistant.errors import QueryError
from web import text, views
from web.api import EngineDep
from web.conversation import trim_history
from web.forms import NOTICES, form_cookie, set_form_cookie

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,  # a misspelt field fails a test instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
)

templates.env.globals["UNLISTED_REFERENCES"] = views.UNLISTED_REFERENCES
templates.env.globals["step_value"] = text.step_value
templates.env.filters["scripts"] = text.scripts

router = APIRouter(include_in_schema=False)


def render(
    request: Request,
    template: str,
    page: Any,
    *,
    status_code: int = 200,
    cookie: tuple[str, bool] | None = None,
) -> HTMLResponse:
    """Render a template with its one context object, `page`. Every page gives a browser its
    form cookie (`cookie`: the one the page's forms were signed for), so two answers opened
    at once from shared links do not each make their own."""
    context = {"page": page, "base_url": str(request.base_url).rstrip("/")}
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    value, new = cookie or form_cookie(request)
    if new:
        set_form_cookie(request, response, value)
    # its forms are signed for this browser's cookie: a shared cache must not hand the page
    # (or its Set-Cookie) to another browser; pages holding a question are no-store (guard)
    response.headers.setdefault("Cache-Control", "private")
    return response


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def home(request: Request, engine: EngineDep) -> HTMLResponse:
    """The article, its date and review status, the question box and example questions."""
    return render(request, "home.html", views.home_page(views.site_of(engine.index)))


@router.api_route("/ask", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def ask(
    request: Request,
    engine: EngineDep,
    q: str = "",
    history: Annotated[list[str] | None, Query()] = None,
    article: str = "",
    feedback: str = "",
) -> HTMLResponse:
    """An answer as a link: GET, the question in `q`, earlier questions in repeated `history`,
    and optionally the one `article` to search; `feedback` (saved, failed) shows the notice
    after a judgement sent without JavaScript."""
    site = views.site_of(engine.index)
    kept, dropped = trim_history(history or [], q)
    if article and article not in engine.index.articles:  # the address, not the question, is wrong
        form = views.QuestionForm(question=q, history=kept, follow_up=bool(kept))
        return article_not_found(request, site, article, form)
    try:
        answer = await engine.ask_async(q, kept, article=article or None)
    except QueryError as exc:
        form = views.QuestionForm(
            question=q,
            history=kept,
            error=views.friendly(exc),
            follow_up=bool(kept),
            article=article,
        )
        home = views.home_page(site, form=form, thread=views.conversation(kept, dropped))
        return render(request, "home.html", home, status_code=422)
    cookie, new = form_cookie(request)
    judging = views.FeedbackForm(
        token=request.app.state.feedback.keys.token(cookie),
        question=answer.question,
        history=answer.history,
        searched=article,
        notice=NOTICES.get(feedback),
        failed=feedback == "failed",
    )
    page = views.answer_page(answer, site, dropped=dropped, article=article, feedback=judging)
    return render(request, "answer.html", page, cookie=(cookie, new))


@router.api_route("/article/{article_id}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def article(request: Request, article_id: str, engine: EngineDep) -> HTMLResponse:
    """The whole article as structured text, every passage at its `p-<id>` anchor."""
    site = views.site_of(engine.index)
    found = engine.index.articles.get(article_id)
    if found is None:
        return article_not_found(request, site, article_id, views.QuestionForm())
    return render(request, "article.html", views.article_page(found, site))


@router.api_route("/article/{article_id}/", methods=["GET", "HEAD"], include_in_schema=False)
def article_slash(article_id: str) -> RedirectResponse:
    """A link typed or pasted with a trailing slash reaches the article (the app redirects no
    slashes itself, so that "/api/ask/" stays a 404 a client cannot follow by mistake)."""
    return RedirectResponse(f"/article/{quote(article_id, safe='')}", status_code=308)


def article_not_found(
    request: Request, site: views.Site, article_id: str, form: views.QuestionForm
) -> HTMLResponse:
    """The 404 page for an article the index does not have: the articles it has, and the
    question box (`form`, filled in when a question named it)."""
    page = views.ErrorPage(
        site=site,
        status=404,
        heading="Article not found",
        message=views.ARTICLE_NOT_FOUND.format(article_id=article_id),
        form=form,
    )
    return render(request, "error.html", page, status_code=404)


def error_page(
    request: Request,
    status_code: int,
    message: str | None = None,
    *,
    heading: str | None = None,
    back: str | None = None,
) -> HTMLResponse:
    """A styled page for an HTTP error outside the JSON API (an unknown address, a bad method,
    an address or body over the limits); `message` says what to do, where there is more to say,
    `heading` what failed in a clinician's words, and `back` links the page it was about."""
    engine = getattr(request.app.state, "engine", None)
    site = views.site_of(engine.index) if engine else views.Site(articles=(), index_version="")
    if status_code == 404:
        title, default = "Page not found", views.PAGE_NOT_FOUND
    else:
        title, default = HTTPStatus(status_code).phrase, views.CANNOT_USE_ADDRESS
    page = views.ErrorPage(
        site=site,
        status=status_code,
        heading=heading or title,
        message=message or default,
        back=back,
    )
    return render(request, "error.html", page, status_code=status_code)
