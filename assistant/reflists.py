"""What an edit did to the works an article cites, for the change report (`updates.report`).

With a reference list, a number is only a pointer: inserting reference 3 renumbers every marker
after it, and a report of each passage's numbers ("[4] -> [5]", 22 lines for one insertion)
hid the one statement that now cites another work. So a passage whose numbers changed is
compared by the works they point to, before and after, and the list itself by its entries:
added, removed, corrected (the same entry with its text mended, by `rapidfuzz`) and renumbered.
An article without a list (the export) is compared by numbers, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rapidfuzz import fuzz

from assistant.records import Article

CORRECTED = 80
"""rapidfuzz ratio (0-100) above which an entry gone and an entry new are one entry mended
(authors' initials, a page range) rather than one work for another."""

Listed = Sequence[tuple[int, str]]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def works(numbers: Sequence[int], listed: Mapping[int, str]) -> list[str] | None:
    """The works `numbers` point to in a list, or None when the list does not hold them all."""
    if not listed or any(n not in listed for n in numbers):
        return None
    return [_key(listed[n]) for n in numbers]


def cites_other_works(
    was: Sequence[int], now: Sequence[int], before: Mapping[int, str], after: Mapping[int, str]
) -> dict[str, list[str]] | None:
    """For a passage whose reference numbers changed: the works it now cites that it did not,
    and those it no longer cites ({} when only the numbers moved); None without both lists."""
    old, new = works(was, before), works(now, after)
    if old is None or new is None:
        return None
    shown = {_key(t): t for t in [*before.values(), *after.values()]}

    def among(work: str, others: list[str]) -> bool:  # a corrected entry is the same work
        return any(work == o or fuzz.ratio(work, o) >= CORRECTED for o in others)

    return {
        k: v
        for k, v in (
            ("adds", [shown[w] for w in new if not among(w, old)]),
            ("drops", [shown[w] for w in old if not among(w, new)]),
        )
        if v
    }


def list_changes(articles: Sequence[Article], before: Mapping[str, Listed]) -> list[dict[str, Any]]:
    """Each article's reference list against the published one: entries added, removed,
    corrected and renumbered (only articles with a list both times, and a change)."""
    found = []
    for article in articles:
        old = dict(before.get(article.id) or ())
        new = dict(article.references)
        if not old or not new:
            continue
        old_at = {_key(t): n for n, t in old.items()}
        new_at = {_key(t): n for n, t in new.items()}
        renumbered = sorted(new_at[k] for k in new_at if k in old_at and old_at[k] != new_at[k])
        gone = [n for n, t in old.items() if _key(t) not in new_at]
        came = [n for n, t in new.items() if _key(t) not in old_at]
        corrected = []
        for n in list(came):
            scored = [(fuzz.ratio(_key(old[g]), _key(new[n])), g) for g in gone]
            score, best = max(scored, default=(0.0, None))
            if best is not None and score >= CORRECTED:
                corrected.append([best, n, old[best], new[n]])
                gone.remove(best)
                came.remove(n)
        if renumbered or gone or came or corrected:
            found.append(
                {
                    "article": article.id,
                    "added": [[n, new[n]] for n in came],
                    "removed": [[n, old[n]] for n in gone],
                    "corrected": corrected,
                    "renumbered": renumbered,
                }
            )
    return found


def list_lines(changes: Sequence[dict[str, Any]]) -> list[str]:
    """The reference lists' changes as the build prints them."""
    out = []
    for item in changes:
        where = f"    references {item['article']}:"
        for n, text in item["added"]:
            out.append(f"{where} [{n}] added: {short(text)}")
        for n, text in item["removed"]:
            out.append(f"{where} [{n}] removed: {short(text)}")
        for was, now, old, new in item["corrected"]:
            number = f"[{was}]" if was == now else f"[{was}] -> [{now}]"
            out.append(f"{where} {number} corrected: {short(old, 40)!r} -> {short(new, 40)!r}")
        if item["renumbered"]:
            numbers = ", ".join(map(str, item["renumbered"]))
            out.append(f"{where} the same works renumbered, now [{numbers}]")
    return out


def short(text: str, width: int = 70) -> str:
    """`text` cut to `width` characters with an ellipsis, as the change report prints it."""
    return text if len(text) <= width else text[: width - 1] + "…"
