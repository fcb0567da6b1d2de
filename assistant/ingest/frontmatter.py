"""Markdown articles' front matter: the flat subset of YAML their metadata is written in, and
the byline that may say its date again under the title.

Read by hand, so that every error names its line (`ArticleError`); `ingest.markdown` reads
the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from assistant.errors import ArticleError
from assistant.ingest.export import LAST_UPDATED, parse_printed_date
from assistant.ingest.parsing import Line, fold

FENCE = "---"
FENCE_ENDS = ("---", "...")
FRONT_MATTER_LINE = re.compile(
    r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:(?:[ \t]+(?P<value>(?:.*[^ \t\n])?))?[ \t]*$"
)
FRONT_MATTER_KEYS = ("title", "last_updated", "review_status")
"""The keys read; any other key (authors, tags, ...) is allowed and ignored."""

QUOTED = re.compile(r"""^(?P<quote>["'])(?P<inner>.*)(?P=quote)(?:[ \t]+#.*)?$""")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

EXAMPLE_FRONT_MATTER = "'---', 'title: …', 'last_updated: YYYY-MM-DD', 'review_status: …', '---'"


@dataclass(frozen=True, slots=True)
class Value:
    text: str
    line: int


def _unquote(raw: str) -> str:
    """A YAML scalar as written on one line: quotes removed, a trailing comment dropped."""
    if quoted := QUOTED.match(raw):
        inner = quoted.group("inner")
        return (
            inner.replace("''", "'") if quoted.group("quote") == "'" else inner.replace('\\"', '"')
        )
    return re.sub(r"(?<![ \t])[ \t]+#.*$", "", raw).strip()  # a run tried from its start only


def read_front_matter(lines: list[Line], source: str) -> tuple[dict[str, Value], int]:
    """The front matter's `key: value` lines, and the index of the first body line.

    Only the flat subset of YAML that the metadata needs is read (by hand, so every error can
    name its line): `key: value`, optionally quoted, `#` comments. Other keys may hold lists
    or nested values; the three keys read must be single values.
    """
    if not lines or lines[0].content.lstrip("\ufeff").rstrip() != FENCE:
        raise ArticleError(
            source,
            f"no front matter; start the file with the metadata block {EXAMPLE_FRONT_MATTER}",
            line=1,
        )
    end = next((i for i, line in enumerate(lines[1:], 1) if line.content.rstrip() in FENCE_ENDS), 0)
    if not end:
        raise ArticleError(
            source,
            "the front matter opened here is never closed; end it with a line '---' before the "
            "article's '# Title'",
            line=lines[0].number,
        )
    values: dict[str, Value] = {}
    key: str | None = None
    for line in lines[1:end]:
        stripped = line.content.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line.content[0] in " \t" or stripped.startswith("- "):
            if key in FRONT_MATTER_KEYS:
                raise ArticleError(
                    source,
                    f"'{key}' must be a single value on its own line ('{key}: …')",
                    line=line.number,
                )
            continue  # part of a key that is not read
        match = FRONT_MATTER_LINE.match(line.content)
        if match is None:
            raise ArticleError(
                source,
                f"cannot read the front matter line {stripped[:60]!r}; write 'key: value' "
                f"(the front matter ends at the '---' on line {lines[end].number})",
                line=line.number,
            )
        key = match.group("key").lower()
        if key in values:
            raise ArticleError(
                source,
                f"'{key}' is set twice (lines {values[key].line} and {line.number}); keep one",
                line=line.number,
            )
        values[key] = Value(_unquote(match.group("value") or ""), line.number)
    return values, end + 1


def parse_date(raw: str, source: str, line: int) -> date:
    """`last_updated` as an ISO date (2026-02-02) or as the export prints it (February 2, 2026)."""
    try:
        if ISO_DATE.match(raw):
            return date.fromisoformat(raw)
        cleaned = re.sub(r"\s+", " ", raw.replace(",", ", ")).replace(" ,", ",")
        return datetime.strptime(cleaned, "%B %d, %Y").date()
    except ValueError:
        raise ArticleError(
            source,
            f"cannot read the date {raw!r}; write last_updated as YYYY-MM-DD (2026-02-02) or "
            "'Month D, YYYY' (February 2, 2026)",
            line=line,
        ) from None


@dataclass(frozen=True, slots=True)
class Byline:
    """A "Last updated:" line in a Markdown article's body: the date as printed and as read."""

    printed: str
    day: date
    line: int


DATED_LINE = re.compile(
    r"^(?P<label>(?:last\s+)?(?:updated|reviewed|revised|published)(?:\s+on)?)\s*:?\s*"
    r"(?P<date>[^.]+?)\.?$",
    re.IGNORECASE,
)
"""A byline that is a date alone under another label: "Updated 1 December 2026", "Last
reviewed: 1 December 2026", "Published on 2026-11-30"."""


def byline_date(text: str) -> tuple[str, date] | None:
    """The date a byline prints after "Last updated:" (or "Updated"), as printed and as read,
    when it reads as one; None for a statement that starts with the words ("Last updated: the
    2024 …")."""
    found = LAST_UPDATED.search(text) or _dated(text, "updated")
    if found is None:
        return None
    try:
        return found.group("date"), parse_printed_date(found.group("date"), "", 0)
    except ArticleError:
        return None


REVIEWED_BY = re.compile(
    r"^(?:(?:medically|clinically)\s+)?(?:reviewed|fact[- ]checked|checked|written|edited)"
    r"\s+by\s+[^\n]{1,80}?\s+on\s+(?P<date>[^.\n]+?)\.?$",
    re.IGNORECASE,
)
"""A byline naming who reviewed or wrote the article, and when: "Medically reviewed by Dr A.
Synthetic on 2 March 2026"."""


def other_date(text: str) -> bool:
    """Whether `text` is a byline giving another date than the update's ("Last reviewed: 1
    December 2026", "Published 2024-03-01", "Medically reviewed by … on 2 March 2026"): no
    statement, and no date the answers show."""
    for found in (_dated(text, ""), REVIEWED_BY.match(text.strip())):
        if found is None or "updated" in (found.groupdict().get("label") or "").lower():
            continue
        try:
            parse_printed_date(found.group("date"), "", 0)
        except ArticleError:
            continue  # "Reviewed by Dr Smith on …": not a date after "Reviewed", but a byline
        return True
    return False


def _dated(text: str, label: str) -> re.Match[str] | None:
    found = DATED_LINE.match(text.strip())
    return found if found and label in found.group("label").lower() else None


def same_date(byline: Byline, dated: date, source: str) -> None:
    """A body's "Last updated:" line must say the front matter's date: every answer shows one
    date, and two that differ mean one of them was not updated."""
    if byline.day != dated:
        raise ArticleError(
            source,
            f"this 'Last updated' line says {byline.printed!r} but the front matter's last_updated "
            f"is {dated.isoformat()}; keep the date in the front matter and remove this line "
            "(or make them the same)",
            line=byline.line,
        )


def article_title(front: Value | None, heading: Value | None, source: str) -> str:
    """The front matter's title or the '# Title' heading; when both are given they must agree."""
    named = front.text if front and front.text else None
    if named and heading and fold(named) != heading.text:
        raise ArticleError(
            source,
            f"the '# {heading.text}' heading differs from the front matter title {named!r}; "
            "make them the same",
            line=heading.line,
        )
    if named:
        return fold(named)
    if heading:
        return heading.text
    raise ArticleError(
        source,
        "no title; add 'title: …' to the front matter (and/or a '# Title' line after it)",
        line=front.line if front else 1,
    )
