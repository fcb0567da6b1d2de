"""What each desk page shows: one plain object a page, built from the core's records.

The templates under templates/desk/ render these and nothing else; no markup is built here.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from assistant.desk.jobs import Build
from assistant.feedback.accounts import AuditEntry
from assistant.feedback.store import Feedback, VersionStats
from assistant.ingest.examples import describe
from web.desk.auth import Editor
from web.views import Site

VERDICT_TEXT = {
    "answers": "this passage answers the question",
    "not": "this passage does not answer it",
    "missing": "the article should cover this (the answer was declined)",
}
SECTIONS = (
    ("home", "/desk", "Overview"),
    ("judgements", "/desk/judgements", "Judgements"),
    ("changes", "/desk/changes", "After the last build"),
    ("quality", "/desk/quality", "Quality"),
    ("publish", "/desk/publish", "Publish"),
    ("audit", "/desk/audit", "Audit trail"),
)


@dataclass(kw_only=True)
class DeskPage:
    """What every desk page has: the site, who is signed in, the notice of the last action."""

    site: Site
    title: str
    section: str
    editor: Editor | None = None
    notice: str = ""
    error: str = ""
    sections: tuple[tuple[str, str, str], ...] = SECTIONS


@dataclass(kw_only=True)
class LoginPage(DeskPage):
    token: str
    name: str = ""
    next: str = "/desk"
    signed_out: bool = False


@dataclass(kw_only=True)
class HomePage(DeskPage):
    judgements: int
    to_resolve: int
    published: str | None
    running: Build | None


@dataclass(frozen=True, slots=True)
class ShownPassage:
    rank: int
    id: str
    text: str
    judged: bool
    current: bool
    """Still a passage of the served version (it can be chosen as the answer)."""


@dataclass(frozen=True, slots=True)
class QueueItem:
    row: Feedback
    verdict: str
    shown: tuple[ShownPassage, ...]
    ranked_now: bool
    """The ranking was not kept with the judgement: `shown` is the served version's."""
    added_now: bool = False
    """The passage judged is no longer served: the served version's ranking follows it."""


@dataclass(kw_only=True)
class QueuePage(DeskPage):
    items: list[QueueItem]
    decided: int
    waiting: int = 0
    """Judgements waiting in all; the page lists the oldest `QUEUE_SHOWN`."""


@dataclass(frozen=True, slots=True)
class ChangeItem:
    kind: str
    """followed, stale, set_aside, unreachable or unexampled."""
    key: str
    """The example's key, or the passage's id for a passage to ask about."""
    question: str
    text: str
    detail: str
    passage: str = ""
    resolved: AuditEntry | None = None


@dataclass(kw_only=True)
class ChangesPage(DeskPage):
    version: str | None
    groups: list[tuple[str, str, list[ChangeItem]]]


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    height: float
    label: str
    value: str


@dataclass(kw_only=True)
class QualityPage(DeskPage):
    stats: list[VersionStats]
    bars: list[Bar]
    chart_width: int
    chart_height: int = 160


@dataclass(kw_only=True)
class PublishPage(DeskPage):
    published: str | None
    built_at: str
    report: list[str]
    kept: list[str]
    can_roll_back: bool
    builds: list[Build]
    running: Build | None


@dataclass(kw_only=True)
class BuildPage(DeskPage):
    build: Build
    lines: list[str]
    serving: str


@dataclass(kw_only=True)
class AuditPage(DeskPage):
    entries: list[AuditEntry] = field(default_factory=list)


def queue_item(
    row: Feedback, current: Container[str], ranked_now: list[tuple[str, str]]
) -> QueueItem:
    """A judgement with the passages as they were shown (or as the served version ranks them,
    for a row stored without them; after them, when the passage judged is no longer served),
    each marked if the served version (`current`, its passage ids) still has it."""
    kept = {pid for pid, _ in row.shown}
    added = bool(row.shown) and any(pid not in kept for pid, _ in ranked_now)
    if added and len(row.shown) == 1 and row.rank:  # the words judged, at the rank they had
        ranks = [row.rank, *range(1, len(ranked_now) + 1)]
    else:
        ranks = list(range(1, len(row.shown) + len(ranked_now) + 1))
    pairs = list(row.shown) + [(pid, text) for pid, text in ranked_now if pid not in kept]
    shown = tuple(
        ShownPassage(
            rank=n,
            id=pid,
            text=text,
            judged=pid == row.passage,
            current=pid in current,
        )
        for n, (pid, text) in zip(ranks, pairs, strict=False)
    )
    return QueueItem(
        row, VERDICT_TEXT[row.verdict], shown, ranked_now=not row.shown, added_now=added
    )


def change_items(changes: dict[str, Any], done: dict[str, AuditEntry]) -> list[tuple[str, str, list[ChangeItem]]]:  # fmt: skip
    """The last build's report as the desk lists it, each item marked with the audit entry
    that resolved it since."""
    examples = changes.get("examples") or {}
    followed = [
        ChangeItem(
            "followed",
            f["key"],
            f["question"],
            describe([(m["from"], m["to"]) for m in f["moves"]], "→"),
            f"{f['file']}:{f['line']}",
            resolved=done.get(f"example {f['key']}"),
        )
        for f in examples.get("followed") or []
    ]
    stale = [
        ChangeItem(
            "stale",
            s["key"],
            s["question"],
            "",
            f"{s['file']}:{s['line']}",
            resolved=done.get(f"example {s['key']}"),
        )  # fmt: skip
        for s in examples.get("stale") or []
    ]
    aside = [
        ChangeItem(
            "set_aside",
            s["key"],
            s["question"],
            s["text"],
            f"{s['file']}:{s['line']}",
            passage=s["passage"],
            resolved=done.get(f"example {s['key']}"),
        )
        for s in examples.get("set_aside") or []
    ]
    unreachable = [
        ChangeItem(
            "unreachable",
            u["id"],
            "",
            u["text"],
            "; ".join(
                f"{p['question']!r}: "
                + ("declined" if p["declined"] else f"rank {p['rank'] or '>5'}")
                for p in u["probes"]
            ),
            passage=u["id"],
            resolved=done.get(f"passage {u['id']}"),
        )
        for u in changes.get("unreachable") or []
    ]
    listed = {u.key for u in unreachable}
    unexampled = [
        ChangeItem(
            "unexampled",
            u["id"],
            "",
            u["text"],
            f"{u['section']}, line {u['line']}",
            passage=u["id"],
            resolved=done.get(f"passage {u['id']}"),
        )
        for u in (changes.get("unexampled") or {}).get("passages") or []
        if u["id"] not in listed  # asked about above already
    ]
    return [
        ("followed", "Examples that followed an edit", followed),
        ("set_aside", "Out-of-scope examples set aside", aside),
        ("stale", "Stale examples", stale),
        ("unreachable", "Passages no probe reaches", unreachable),
        ("unexampled", "Passages no example asks about", unexampled),
    ]


def bars(stats: list[VersionStats], width: int = 64, height: int = 160) -> list[Bar]:
    """One bar a version: the share of judged questions answered at rank 1."""
    return [
        Bar(
            x=8 + i * width,
            height=round((s.answered_at_1 or 0.0) * (height - 20), 1),
            label=s.index_version[:8],
            value="—" if s.answered_at_1 is None else f"{s.answered_at_1:.0%}",
        )
        for i, s in enumerate(stats)
    ]
