"""Lineage across builds: which passage of the new corpus continues which of the published one.

Passage ids follow the text, so an edit gives a new id. What was learnt about a passage (its
example questions, and with them its offset) must follow the edit rather than go stale, so a
build matches every new passage to its predecessors, article by article:

    unchanged   the same id (the same text; it may have moved with its section)
    edited      one old passage continues as one new one: they share most of their words
    split       one old passage continues as several new ones, each drawing on its words
    merged      several old passages continue as one new one that holds most of each
    added       no predecessor;  removed: no successor

A pair is scored by the share of content words (`tokens.tokenize`: stemmed, stop words off) it
has in common, numbers included (for a one-to-one edit, each word weighed by how few of the
article's passages hold it); the same section, or the same neighbours among unchanged passages, lowers the
share asked for, because an editor's edit stays where it was. A statement said again in other
words ("Corticosteroids and plasmapheresis are ineffective" -> "Steroids and plasma exchange
do not help") shares no words; when the build gives the model (`similar`), a passage left
without a successor is *edited* into one left without a predecessor near it when, by the
model's vectors, the two are closer to each other than either is to any other statement of
the article, by `REWORDED_MARGIN`, and at least `REWORDED_FLOOR`: the new text is that
statement, not its neighbour. Each passage also carries the
texts it held before (`former`), over as many builds as it is edited, so that an example whose
gold phrase names an older wording still finds the passage (`assistant.ingest.examples`).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.ingest.tokens import tokenize
from assistant.records import Passage

Similar = Callable[[Sequence[str]], np.ndarray]
"""Texts to unit vectors (the build's model), for statements reworded without shared words."""


def lazily(make: Callable[[], Similar]) -> Similar:
    """`make()`'s model, made on the first call only: the tools that preview a build (the
    desk, `examples`) trace as the build does, and load the model only when an edit left a
    statement without successor beside one without predecessor."""
    made: list[Similar] = []

    def similar(texts: Sequence[str]) -> np.ndarray:
        if not made:
            made.append(make())
        return made[0](texts)

    return similar


UNCHANGED, EDITED, SPLIT, MERGED, ADDED = "unchanged", "edited", "split", "merged", "added"
CHANGED = (EDITED, SPLIT, MERGED, ADDED)
"""What a build probes and what out-of-scope examples are checked against: new wording."""
EDIT_SHARE = 0.6
"""Dice share of content words for a one-to-one edit anywhere in the article ..."""
NEAR_EDIT_SHARE = 0.4
"""... and in the same neighbourhood (section or unchanged neighbours)."""
PART_SHARE = 0.3
"""A part of a split draws at least this share of its words from the old passage (in the same
neighbourhood) ..."""
SPLIT_COVER = 0.8
"""... and the parts of a split together hold this share of the old passage's words ..."""
SPLIT_LOST = 0.5
"""... or a new passage beside an edited one holds this share (two words at least) of what the
edit took out of it: a part split off in other words ..."""
MERGE_SHARE = 0.75
"""... and a part of a merge gives at least this share of its words to the new one."""
REWORDED_MARGIN = 0.05
"""How much closer (cosine) a reworded statement must be to the one it replaces than either is
to any other statement of the article. Measured on 8 rewordings of MMN and atrial fibrillation
statements (margins 0.067-0.57) against 2 statements replaced in place by different ones
("Rituximab efficacy is not established" by "Efgartigimod efficacy is under investigation",
a dose by a maintenance interval: 0.004 and 0.018); docs/pipeline.md."""
REWORDED_FLOOR = 0.5
"""... and how close (cosine) the two must be at least: in a short article every statement
may be far from the others, and "Common causes are kidney failure and ACE inhibitors" ->
"Spironolactone is a frequent culprit" (0.41) beat its four neighbours (0.24 at most). The
rewordings measured read 0.58-0.94; statements put in place of others 0.45-0.53."""
ASKED_LEAST = 5
"""A statement the model does not read as reworded is still its old self's edit when at least
this many of the old statement's example questions ..."""
ASKED_GAIN = 0.05
"""... are on average (cosine) this much nearer the new text than the old, and the two are at
least `REWORDED_FLOOR` apart: the questions it answered find it better. A blind editor's
"Steroids and plasma exchange do not work in MMN and should be avoided" reads closer to the
IVIg paragraph (0.57) than to the statement it rewords (0.53), but its 64 questions are 0.15
nearer to it than to the old wording (+0.15 for a second rewording too). Statements put in
place of others, about 28 tried on MMN, read -0.03 to -0.41: a second read found two linked
when a loss of 0.08 was allowed ("Anti-GM1 testing is negative in up to half" for the GM2
statement, "maintenance can often be tapered" for "does not prevent axonal loss"). Rewordings
the model links itself read -0.03 to +0.04; they need no such help."""
Asked = Callable[[Passage], Sequence[str]]
"""A published passage's example questions (those whose gold phrases it says)."""
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
FORMER_KEPT = 8
"""How many earlier wordings a passage remembers."""


@dataclass(frozen=True, slots=True)
class Link:
    """Where one new passage comes from."""

    status: str
    predecessors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Lineage:
    """The new corpus against the published version: a link per new passage (by id), the old
    passages that have no successor, and each new passage's earlier wordings."""

    links: dict[str, Link]
    removed: tuple[str, ...] = ()
    former: dict[str, tuple[str, ...]] = field(default_factory=dict)
    first: bool = False
    """No version was published before: every passage is new, nothing was learnt to follow."""
    new_articles: frozenset[str] = frozenset()
    """Articles the version before did not have (every passage of theirs is added)."""

    def status(self, passage_id: str) -> str:
        return self.links[passage_id].status if passage_id in self.links else ADDED

    def changed(self, passage_id: str) -> bool:
        return self.status(passage_id) in CHANGED

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((UNCHANGED, *CHANGED), 0)
        for link in self.links.values():
            counts[link.status] += 1
        counts["removed"] = len(self.removed)
        return counts

    def to_json(self) -> dict[str, Any]:
        """What the version keeps (`lineage.json`), for the next build to continue from."""
        return {
            "first": self.first,
            "removed": list(self.removed),
            "passages": {
                pid: {
                    "status": link.status,
                    "from": list(link.predecessors),
                    "former": list(self.former.get(pid, ())),
                }
                for pid, link in self.links.items()
            },
        }


def former_of(data: Any) -> dict[str, tuple[str, ...]]:
    """The earlier wordings recorded in a version's `lineage.json` (none if unreadable)."""
    try:
        return {
            str(pid): tuple(str(t) for t in entry.get("former") or ())
            for pid, entry in dict(data["passages"]).items()
        }
    except (KeyError, TypeError, AttributeError, ValueError):
        return {}


def trace(
    old: Sequence[Passage],
    new: Sequence[Passage],
    old_former: dict[str, tuple[str, ...]] | None = None,
    similar: Similar | None = None,
    asked: Asked | None = None,
) -> Lineage:
    """Match `new` passages to the published `old` ones (see the module's docstring); without
    `similar` (tools that preview a build without the model), by words alone; with `asked`,
    also by where an old statement's example questions find its new wording (`ASKED_GAIN`)."""
    if not old:
        return Lineage({p.id: Link(ADDED) for p in new}, first=True)
    old_former = old_former or {}
    old_ids = {p.id for p in old}
    links: dict[str, Link] = {p.id: Link(UNCHANGED, (p.id,)) for p in new if p.id in old_ids}
    removed: list[str] = []
    new_articles: set[str] = set()
    for article in dict.fromkeys(p.article_id for p in [*old, *new]):
        mine_old = [p for p in old if p.article_id == article]
        if not mine_old:
            new_articles.add(article)
        mine_new = [p for p in new if p.article_id == article]
        found, gone = _match(mine_old, mine_new, links, similar, asked)
        links.update(found)
        removed += gone
    former: dict[str, tuple[str, ...]] = {}
    by_id = {p.id: p for p in old}
    for passage in new:
        link = links[passage.id]
        texts: list[str] = []
        for pid in link.predecessors:
            if pid != passage.id:
                texts.append(by_id[pid].text)
            texts += old_former.get(pid, ())
        kept = [t for t in dict.fromkeys(texts) if t != passage.text][:FORMER_KEPT]
        if kept:
            former[passage.id] = tuple(kept)
    return Lineage(links, tuple(removed), former, new_articles=frozenset(new_articles))


def _match(
    old: list[Passage],
    new: list[Passage],
    unchanged: dict[str, Link],
    similar: Similar | None,
    asked: Asked | None = None,
) -> tuple[dict[str, Link], list[str]]:
    """One article's links for the passages whose text changed, and its removed passages."""
    kept = {p.id for p in new if p.id in unchanged}
    free_old = [p for p in old if p.id not in kept]
    free_new = [p for p in new if p.id not in kept]
    if not free_new:
        return {}, [p.id for p in free_old]
    words = {p.id: _words(p.text) for p in [*old, *new]}  # an unchanged id: the same text
    weight = _rarity(list(words.values()))
    # a changed passage's id is in one version only (ids follow the text), so one map serves
    neighbours = {**_neighbours(old, kept), **_neighbours(new, kept)}

    def near(a: Passage, b: Passage) -> bool:
        """In the same section, or beside the same unchanged passage (either order)."""
        return a.section == b.section or bool(neighbours[a.id] & neighbours[b.id])

    def mass(ws: set[str]) -> float:
        return sum(weight[w] for w in ws)

    def shared(a: Passage, b: Passage) -> float:
        return mass(words[a.id] & words[b.id])

    pairs = []
    for o in free_old:
        for n in free_new:
            both = shared(o, n)
            if both:
                dice = 2 * both / (mass(words[o.id]) + mass(words[n.id]))
                pairs.append((dice, near(o, n), o.position, n.position, o, n))
    pairs.sort(key=lambda t: (-t[0], not t[1], abs(t[2] - t[3])))
    successors: dict[str, list[str]] = {}
    predecessors: dict[str, list[str]] = {}
    for dice, close, _, _, o, n in pairs:  # one-to-one edits, best first
        if o.id in successors or n.id in predecessors:
            continue
        if dice >= (NEAR_EDIT_SHARE if close else EDIT_SHARE):
            successors[o.id] = [n.id]
            predecessors[n.id] = [o.id]

    def drawn(x: Passage, pool: list[Passage], least: float) -> Passage | None:
        """Of `pool`, the passage near `x` that holds the largest share (at least `least`) of
        x's own words; the first one on ties."""
        mine = len(words[x.id])
        scored = [(len(words[x.id] & words[y.id]) / mine, y) for y in pool if mine and near(x, y)]
        scored = [t for t in scored if t[0] >= least]
        return max(scored, key=lambda t: t[0])[1] if scored else None

    parts: dict[str, list[str]] = {}
    for n in free_new:  # a new passage drawing on an old one's words: a part of a split
        if n.id not in predecessors and (whole := drawn(n, free_old, PART_SHARE)) is not None:
            parts.setdefault(whole.id, []).append(n.id)
    for whole_id, drawn_ids in parts.items():
        # A split keeps one part that is still the passage (its one-to-one edit), and its parts
        # hold most of its words; a new statement that shares a word or two with a removed one
        # ("Efgartigimod efficacy is under investigation" for "Rituximab efficacy is not
        # established") is an addition, and the old passage's examples go stale, not over.
        if whole_id not in successors:
            continue
        held = set().union(*(words[i] for i in [*successors[whole_id], *drawn_ids]))
        if len(words[whole_id] & held) < SPLIT_COVER * len(words[whole_id]):
            continue
        for n_id in drawn_ids:
            successors[whole_id].append(n_id)
            predecessors[n_id] = [whole_id]
    for o in free_old:  # what an edit took out of a statement, said by a new one beside it
        if len(successors.get(o.id, ())) == 1 and (
            lost := words[o.id] - words[successors[o.id][0]]
        ):
            for n in free_new:
                moved = len(lost & words[n.id])
                if n.id not in predecessors and near(o, n) and moved >= max(2, SPLIT_LOST * len(lost)):  # fmt: skip
                    successors[o.id].append(n.id)  # "… and lasts an average of 2 months" ->
                    predecessors[n.id] = [o.id]  # "Duration: … about 2 months on average"
    for o in free_old:  # an old passage most of which lives on in a new one: a merge
        if o.id not in successors and (joined := drawn(o, free_new, MERGE_SHARE)) is not None:
            successors[o.id] = [joined.id]
            predecessors.setdefault(joined.id, []).append(o.id)
    if similar is not None:
        similar = _remembered(similar)
        left_old = [o for o in free_old if o.id not in successors]
        left_new = [n for n in free_new if n.id not in predecessors]
        for o, n in _reworded(old, left_old, left_new, similar, near):
            successors[o.id] = [n.id]
            predecessors[n.id] = [o.id]
        if asked is not None:
            left_old = [o for o in free_old if o.id not in successors]
            left_new = [n for n in free_new if n.id not in predecessors]
            for o, n in _asked_again(left_old, left_new, similar, near, asked):
                successors[o.id] = [n.id]
                predecessors[n.id] = [o.id]
        # a part reworded out of a statement that lives on ("… and lasts 2 months" -> "Duration:
        # the benefit wears off after about 2 months"): a split, not an addition; and a removed
        # statement the model reads in an edited one: a merge, not a removal
        edited = [o for o in free_old if o.id in successors]
        left_new = [n for n in free_new if n.id not in predecessors]
        for o, n in _reworded(old, edited, left_new, similar, near):
            successors[o.id].append(n.id)
            predecessors[n.id] = [o.id]
        left_old = [o for o in free_old if o.id not in successors]
        carried = [n for n in free_new if n.id in predecessors]
        for o, n in _reworded(old, left_old, carried, similar, near, predecessors):
            successors[o.id] = [n.id]
            predecessors[n.id].append(o.id)
    links: dict[str, Link] = {}
    for n in free_new:
        before = predecessors.get(n.id, [])
        if not before:
            links[n.id] = Link(ADDED)
        elif len(before) > 1:
            links[n.id] = Link(MERGED, tuple(before))
        elif len(successors[before[0]]) > 1:
            links[n.id] = Link(SPLIT, tuple(before))
        else:
            links[n.id] = Link(EDITED, tuple(before))
    return links, [o.id for o in free_old if o.id not in successors]


def _reworded(
    old: list[Passage],
    left_old: list[Passage],
    left_new: list[Passage],
    similar: Similar,
    near: Callable[[Passage, Passage], bool],
    joined: Mapping[str, list[str]] | None = None,
) -> list[tuple[Passage, Passage]]:
    """Pairs of a statement without successor and one without predecessor, near each other,
    that the model reads as one statement (the module's docstring), closest first. With
    `joined` (a new text's predecessors), the statements a new text already continues are not
    its rivals: two bullets merged read close to each other and to what they became."""
    if not left_old or not left_new:
        return []
    vectors = similar([p.text for p in [*old, *left_new]])
    mine, theirs = vectors[: len(old)], vectors[len(old) :]
    among = mine @ mine.T  # the article's statements against each other
    np.fill_diagonal(among, -np.inf)
    across = mine @ theirs.T  # each old statement against each new text
    row = {p.id: i for i, p in enumerate(old)}
    pairs = []
    for o in left_old:
        i = row[o.id]
        for j, n in enumerate(left_new):
            aside = [i, *(row[k] for k in (joined or {}).get(n.id, ()))]
            others = np.delete(across[:, j], aside)  # the new text against the old's others
            rivals = np.delete(among[i], aside[1:])
            nearest = max(rivals.max(initial=-1.0), others.max(initial=-1.0))
            bar = max(nearest + REWORDED_MARGIN, REWORDED_FLOOR)
            if across[i, j] >= bar and near(o, n):
                pairs.append((float(across[i, j]), o.position, n.position, o, n))
    return _one_to_one(pairs)


def _asked_again(
    left_old: list[Passage],
    left_new: list[Passage],
    similar: Similar,
    near: Callable[[Passage, Passage], bool],
    asked: Asked,
) -> list[tuple[Passage, Passage]]:
    """Pairs of a statement without successor and one without predecessor, near each other,
    where the old statement's example questions find the new text nearer than they found the
    old (`ASKED_GAIN`), best first."""
    pairs = []
    for o in left_old:
        candidates = [n for n in left_new if near(o, n)]
        questions = list(asked(o)) if candidates else []
        if len(questions) < ASKED_LEAST:
            continue
        vectors = similar([o.text, *(n.text for n in candidates)])
        found = similar(questions)
        before = float((found @ vectors[0]).mean())
        for n, vector in zip(candidates, vectors[1:], strict=True):
            gained = float((found @ vector).mean()) - before
            if gained >= ASKED_GAIN and float(vectors[0] @ vector) >= REWORDED_FLOOR:
                pairs.append((gained, o.position, n.position, o, n))
    return _one_to_one(pairs)


def _one_to_one(
    pairs: list[tuple[float, int, int, Passage, Passage]],
) -> list[tuple[Passage, Passage]]:
    """(score, old position, new position, old, new) pairs, best score first (then in the
    articles' order), each passage taken once."""
    chosen: list[tuple[Passage, Passage]] = []
    taken: set[str] = set()
    for _, _, _, o, n in sorted(pairs, key=lambda t: (-t[0], t[1], t[2])):
        if o.id not in taken and n.id not in taken:
            taken |= {o.id, n.id}
            chosen.append((o, n))
    return chosen


def _remembered(similar: Similar) -> Similar:
    """`similar` that embeds each text once: lineage asks it three times of one article."""
    known: dict[str, np.ndarray] = {}

    def vectors(texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, similar(missing), strict=True))
        return np.array([known[t] for t in texts])

    return vectors


def _words(text: str) -> set[str]:
    """A passage's content words (stemmed, stop words off) and its numbers, which tell apart
    sibling bullets that differ only in a dose or a date."""
    return set(tokenize([text])[0]) | set(_NUMBER.findall(text))


def _rarity(passages: list[set[str]]) -> dict[str, float]:
    """How much a shared word says that two passages are one statement: a word few of the
    article's passages (their `_words`) hold (a drug, an antibody) says more than one most hold
    (the condition's name), so "Rituximab efficacy is not established in MMN" and "Efgartigimod
    efficacy is under investigation in MMN" are not one statement edited."""
    held: Counter[str] = Counter(w for ws in passages for w in ws)
    return defaultdict(
        lambda: 1.0, {w: 1.0 + math.log((len(passages) + 1) / (n + 1)) for w, n in held.items()}
    )


def _neighbours(passages: list[Passage], kept: set[str]) -> dict[str, set[str]]:
    """For each passage, the nearest unchanged passage before and after it in its article."""
    ordered = sorted(passages, key=lambda p: p.position)
    out: dict[str, set[str]] = {}
    for i, passage in enumerate(ordered):
        before = next((p.id for p in reversed(ordered[:i]) if p.id in kept), None)
        after = next((p.id for p in ordered[i + 1 :] if p.id in kept), None)
        out[passage.id] = {x for x in (before, after) if x}
    return out
