"""The context object each page renders, built from the core's records (the conversation's
links and trimming, `ask_url`, `trim_history` and `conversation`, live in `web.conversation`).

Templates only read these. Every decision a page makes (labels, links, what to trim, which
words to emphasise) is made here in Python, where it is tested without HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from markupsafe import Markup

from assistant.answer import NOT_COVERED, Answer, RankedPassage, cited_references
from assistant.errors import QueryError
from assistant.limits import MAX_QUESTION_CHARS
from assistant.records import Article, steps_going_on
from assistant.search.loaded import LoadedIndex
from web import text
from web.conversation import Conversation, Turn, ask_url, conversation
from web.text import Section

SHOWN_EXAMPLES = 5
"""Example questions on the home page: the first ones of the articles' example files (editors
put the questions they want shown first), taken from the served index."""

QUESTION_HINT = (
    f"Up to {MAX_QUESTION_CHARS} characters. Answers quote the article's own statements; "
    "nothing is generated."
)
FOLLOW_UP_HINT = "Earlier questions are kept, so a short follow-up such as “And the dose?” works."

LABEL_BEST = "Best match"
LABEL_RELEVANT = "Relevant"
LABEL_LESS_RELEVANT = "Less relevant"
LABEL_WEAK = "Weak match"
"""Relevance labels: a judgement of the answerability check, never a probability."""

PAGE_NOT_FOUND = "There is no page at this address. Ask a question or open the article below."
CANNOT_USE_ADDRESS = "This address cannot be used that way. Ask a question below."
ARTICLE_NOT_FOUND = (
    "There is no article called “{article_id}”. The articles available are listed below."
)


@dataclass(frozen=True, slots=True)
class ArticleCard:
    """What a clinician needs to know about a source: title, date, review status."""

    id: str
    title: str
    url: str
    last_updated: date
    last_updated_text: str
    review_status: str
    review_note: str | None
    caution: bool


@dataclass(frozen=True, slots=True)
class Site:
    """What the header and footer of every page show."""

    articles: tuple[ArticleCard, ...]
    index_version: str
    built_text: str = ""
    """When the served index was built, for the footer ("25 November 2026, 13:16 UTC")."""
    examples: tuple[str, ...] = ()
    """Questions the articles answer, from their example files (see SHOWN_EXAMPLES)."""
    mark: str = "Ref"
    """The header's badge: the short name of a single article's topic ("MMN")."""


@dataclass(frozen=True, slots=True)
class QuestionForm:
    """The question box: on the home page, on an error (filled in), and as the follow-up box.

    `history` goes into hidden `history` fields, oldest first, so that the next answer reads
    its question in the conversation.
    """

    question: str = ""
    history: tuple[str, ...] = ()
    error: str | None = None
    follow_up: bool = False
    autofocus: bool = False
    max_chars: int = MAX_QUESTION_CHARS
    article: str = ""
    """The article the question searches ("" for all); a choice is offered when there are several."""

    @property
    def input_id(self) -> str:
        return "follow-up" if self.follow_up else "q"

    @property
    def label(self) -> str:
        return "Follow-up question" if self.follow_up else "Your question"

    @property
    def button(self) -> str:
        return "Ask follow-up" if self.follow_up else "Ask"

    example: str = ""
    """A question the article answers, shown as the box's placeholder."""

    @property
    def placeholder(self) -> str:
        if self.follow_up:
            return "e.g. And how long does it last?"
        return f"e.g. {self.example}" if self.example else "Type a clinical question"

    @property
    def hint(self) -> str:
        return f"{FOLLOW_UP_HINT} {QUESTION_HINT}" if self.follow_up else QUESTION_HINT


UNLISTED_REFERENCES = "this export does not include the source's reference list"
"""What a citation marker says when its article came without its reference list."""


@dataclass(frozen=True, slots=True)
class ShownReference:
    """A reference entry a passage cites: its marker's tooltip (on hover and keyboard focus),
    a link to the entry in the article view, and a line of the list under the passage."""

    number: int
    text: str
    anchor: str  # the HTML id of the entry in the list under the passage
    href: str  # the entry in the article view's reference list


def reference_anchor(number: int) -> str:
    """The HTML id of a reference entry in the article view."""
    return f"ref-{number}"


@dataclass(frozen=True, slots=True)
class ShownItem:
    """A statement of a lead-in's list, shown under it: words marked and markers linked as the
    passage's own are (`anchor` keeps their tooltips' ids apart)."""

    text: Markup
    citations: tuple[int, ...]
    anchor: str
    number: str = ""  # a numbered step's number as printed ("2.")
    depth: int = 0  # how deep in its list it is printed
    goes_on: bool = False  # a later sentence of the step above it: shown without its number


@dataclass(frozen=True, slots=True)
class ShownPassage:
    """One ranked passage as the answer page shows it.

    `references` are the entries of the article's reference list that the passage cites (none
    for an article without one): each marker carries its text as a tooltip and links to it in
    the list under the passage, so the text is there without a mouse too."""

    rank: int
    label: str
    tone: str  # best, relevant, less, weak: the label's style
    text: Markup  # escaped, matched words in <mark>
    context: str | None
    citations: tuple[int, ...]  # and its lead-in's, `context_citations`, below
    section: str
    url: str
    article_title: str
    references: tuple[ShownReference, ...] = ()
    passage_id: str = ""
    article_id: str = ""
    references_listed: bool = True
    items: tuple[ShownItem, ...] = ()
    number: str = ""  # a numbered step's number as printed ("2."): the order it is done in
    context_citations: tuple[int, ...] = ()

    @property
    def items_numbered(self) -> bool:
        """Whether the lead-in's list is a numbered one (shown as `<ol>`, each step's number)."""
        return any(item.number for item in self.items)

    @property
    def reference_by_number(self) -> dict[int, ShownReference]:
        """What `_citations.html` looks a marker's reference up in."""
        return {r.number: r for r in self.references}


@dataclass(frozen=True, slots=True)
class FeedbackForm:
    """What every judgement button of an answer sends back (see `web.feedback`): the answer's
    question and history, the form token, and the article that was searched ("" for all)."""

    token: str
    question: str
    history: tuple[str, ...]
    searched: str = ""
    notice: str | None = None
    """The thank-you (or could-not-save) notice after a judgement sent without JavaScript."""
    failed: bool = False


FEEDBACK_PRIVACY = (
    "Judging a passage keeps this question for the article's editors, who use it to improve "
    "the answers: do not include patient identifiers."
)


@dataclass(frozen=True, slots=True)
class HomePage:
    """`/`, and `/ask` when the question cannot be searched (the form filled in, the error)."""

    site: Site
    form: QuestionForm
    conversation: Conversation = field(default_factory=Conversation)
    examples: tuple[Turn, ...] = ()

    @property
    def title(self) -> str:
        return "Check your question" if self.form.error else "Ask the article"


@dataclass(frozen=True, slots=True)
class AnswerPage:
    """`/ask`: the question, its ranked passages, the disclaimer and the follow-up box."""

    site: Site
    question: str
    conversation: Conversation
    answerable: bool
    message: str | None
    unmentioned: tuple[str, ...]
    passages: tuple[ShownPassage, ...]
    sources: tuple[ArticleCard, ...]
    disclaimer: tuple[str, ...]  # paragraphs, in full
    follow_up: QuestionForm
    feedback: FeedbackForm | None = None
    privacy: str = FEEDBACK_PRIVACY

    @property
    def title(self) -> str:
        return self.question

    @property
    def unlisted_references(self) -> tuple[str, ...]:
        """The titles of the shown articles whose markers came without their reference list."""
        return tuple(dict.fromkeys(
            p.article_title for p in self.passages
            if (p.citations or p.context_citations or any(i.citations for i in p.items))
            and not p.references_listed
        ))  # fmt: skip

    @property
    def missing_article(self) -> str:
        """The article a "should cover this" judgement is about: the one searched, or the one
        whose passages came closest."""
        if self.feedback and self.feedback.searched:
            return self.feedback.searched
        return self.passages[0].article_id if self.passages else self.site.articles[0].id


@dataclass(frozen=True, slots=True)
class ArticlePage:
    """`/article/{id}`: the whole article, every passage at its anchor."""

    site: Site
    article: ArticleCard
    sections: list[Section]
    disclaimer: tuple[str, ...]
    form: QuestionForm
    references: tuple[ShownReference, ...] = ()
    cites: bool = False
    """Whether any passage carries a citation marker."""

    @property
    def title(self) -> str:
        return self.article.title

    @property
    def reference_by_number(self) -> dict[int, ShownReference]:
        return {r.number: r for r in self.references}

    @property
    def contents(self) -> list[Section]:
        """Every section in reading order, for the table of contents."""
        return [s for root in self.sections for s in root.walk()]


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """A styled error (unknown article, unknown address) with a way back."""

    site: Site
    status: int
    heading: str
    message: str
    form: QuestionForm = field(default_factory=QuestionForm)
    back: str | None = None  # the page it is about (a refused judgement's answer), linked

    @property
    def title(self) -> str:
        return self.heading


def card(article: Article) -> ArticleCard:
    return ArticleCard(
        id=article.id,
        title=article.title,
        url=f"/article/{article.id}",
        last_updated=article.last_updated,
        last_updated_text=text.long_date(article.last_updated),
        review_status=article.review_status,
        review_note=article.review_note,
        caution=text.needs_caution(article.review_status),
    )


def site_of(index: LoadedIndex) -> Site:
    articles = list(index.articles.values())
    return Site(
        articles=tuple(card(a) for a in articles),
        index_version=index.version,
        built_text=text.built_time(index.built_at),
        examples=tuple(index.shown_examples()[:SHOWN_EXAMPLES]),
        mark=text.short_name(articles[0].topic) if len(articles) == 1 else "Ref",
    )


def friendly(error: QueryError) -> str:
    """The core's limit message as a sentence addressed to the person who typed the question."""
    message = str(error)
    if message.startswith("question "):
        message = "Your " + message
    message = re.sub(
        r"^history\[(\d+)\]", lambda m: f"Earlier question {int(m.group(1)) + 1}", message
    )
    return text.sentence(message)


def home_page(
    site: Site, *, form: QuestionForm | None = None, thread: Conversation | None = None
) -> HomePage:
    return HomePage(
        site=site,
        form=form or QuestionForm(autofocus=True, example=next(iter(site.examples), "")),
        conversation=thread or Conversation(),
        examples=tuple(Turn(q, ask_url(q)) for q in site.examples),
    )


def _label(ranked: RankedPassage, answerable: bool) -> tuple[str, str]:
    if not answerable:
        return LABEL_WEAK, "weak"
    if ranked.rank == 1:
        return LABEL_BEST, "best"
    return (LABEL_RELEVANT, "relevant") if ranked.relevant else (LABEL_LESS_RELEVANT, "less")


def _shown_references(ranked: RankedPassage) -> tuple[ShownReference, ...]:
    """The entries its lead-in, the passage and its list cite, each once, in that order."""
    sources = [p for p in (ranked.lead, ranked.passage, *ranked.items) if p is not None]
    cited = tuple(entry for p in sources for entry in cited_references(p, ranked.article))
    entries: dict[int, str] = {}
    for number, entry in cited:
        entries.setdefault(number, entry)
    return tuple(
        ShownReference(
            number,
            entry,
            f"answer-{ranked.rank}-ref-{number}",
            f"/article/{ranked.article.id}#{reference_anchor(number)}",
        )
        for number, entry in entries.items()
    )


def answer_page(
    answer: Answer,
    site: Site,
    *,
    dropped: int = 0,
    article: str = "",
    feedback: FeedbackForm | None = None,
) -> AnswerPage:
    """The page for an answer from `Engine.ask`: the same call and records as the JSON API."""
    # a declined answer's passages are shown folded away and unmarked: nothing reads as an answer
    stems = text.question_stems(answer.question) if answer.answerable else frozenset()
    shown = []
    for ranked in answer.passages:
        label, tone = _label(ranked, answer.answerable)
        going_on = steps_going_on((item.number, item.depth) for item in ranked.items)
        shown.append(
            ShownPassage(
                rank=ranked.rank,
                label=label,
                tone=tone,
                text=text.emphasise(ranked.passage.text, stems),
                context=ranked.passage.context,
                context_citations=ranked.lead.citations if ranked.lead else (),
                citations=ranked.passage.citations,
                section=text.section_path(ranked.passage.section),
                url=ranked.url,
                article_title=ranked.article.title,
                passage_id=ranked.passage.id,
                article_id=ranked.article.id,
                references=_shown_references(ranked),
                references_listed=bool(ranked.article.references),
                items=tuple(
                    ShownItem(
                        text.emphasise(item.text, stems),
                        item.citations,
                        f"{ranked.rank}-item-{n}",
                        item.number,
                        item.depth,
                        going_on[n - 1],
                    )
                    for n, item in enumerate(ranked.items, start=1)
                ),
                number=ranked.passage.number,
            )
        )
    sources = tuple(card(a) for a in {r.article.id: r.article for r in answer.passages}.values())
    return AnswerPage(
        site=site,
        question=answer.question,
        conversation=conversation(answer.history, dropped, article),
        answerable=answer.answerable,
        message=None if answer.answerable else NOT_COVERED,
        unmentioned=answer.unmentioned,
        passages=tuple(shown),
        sources=sources,
        disclaimer=tuple(p for p in answer.disclaimer.split("\n\n") if p.strip()),
        follow_up=QuestionForm(
            history=(*answer.history, answer.question), follow_up=True, article=article
        ),
        feedback=feedback,
    )


def article_page(article: Article, site: Site) -> ArticlePage:
    return ArticlePage(
        site=site,
        article=card(article),
        sections=text.outline(article),
        disclaimer=(article.disclaimer,),
        form=QuestionForm(article=article.id),  # asked while reading it: that article's passages
        references=tuple(
            ShownReference(n, entry, reference_anchor(n), f"#{reference_anchor(n)}")
            for n, entry in article.references
        ),
        cites=any(p.citations for p in article.passages),
    )
