"""What an editor's update did: the change report a build writes, and the reachability probes.

After an edit, the editor needs to know what the build made of it, without reading the code:

- passages unchanged, edited (with the words that changed, and the references where they
  changed too), split, merged, added and removed
  (`assistant.ingest.lineage`), passages moved to another section (a heading renamed, a
  bullet moved), passages whose reference numbers alone changed (*recited*), and an
  article's new date, review status or title;
- examples that *followed* an edit (their gold phrase names the older wording; `examples fix`
  rewrites it), examples gone *stale* (no passage says their gold, now or before: a removed
  passage or a mistyped phrase) and out-of-scope examples
  *set aside* because new content may answer them (`assistant.train.setaside`);
- passages no example asks about;
- passages that cannot be reached: every new or edited passage is probed with questions made
  from its own words, heading and abbreviations (`probe_questions`); a passage that no probe
  finds first, undeclined, is listed, and `build --strict` refuses to publish it.

The report is the manifest's `changes` entry: `build` and `status` print it (`lines`), and
`status --json` gives it to scripts. `build` also sets the new version's cross-validated
figures beside the published one's (`fallen`), so an update that costs the declines or the
ranking says so before anyone relies on it.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.answer import nearest_lead
from assistant.ingest.examples import Examples, describe
from assistant.ingest.lineage import Lineage
from assistant.ingest.tokens import WORD, tokenize
from assistant.records import Article, Passage
from assistant.reflists import Listed, cites_other_works, list_changes, list_lines, short
from assistant.search.retrieval import Retriever
from assistant.train.setaside import SetAside

PROBE_WORDS = 5
"""How many of a passage's most distinctive words a probe asks with."""
MAX_PROBED = 400
"""At most this many passages are probed in one build (a first build of a large library
probes its first ones and says how many it left)."""
LISTED = 50
"""At most this many passages of each kind are named in the report (all are counted)."""
FALL_SHOWN = 0.02
"""A cross-validated figure that falls by more than this against the version before is named
after a build: about twice the standard error of a hit@1 near 0.85 over 800 examples."""
CV_FIGURES = (
    ("hit@1", "hit@1", 1),
    ("declined_out_of_scope", "out-of-scope examples declined", 1),
    ("wrongly_declined", "in-scope examples wrongly declined", -1),
)
ABBREVIATION = 2, 6


def probe_questions(
    passage: Passage, document_frequency: Counter[str], documents: int, lead: str | None = None
) -> list[str]:
    """Questions a clinician might ask of the passage, from the passage alone: its most
    distinctive words (rarest in the library first, kept in the passage's order), the same
    under its heading, and its abbreviations with them. Deterministic. Made apart from the
    questions training derives (`assistant.ingest.derived`: article-wide rarity, the topic's
    name), so that a probe does not replay a question the ranker was trained on. A list item
    is also probed with its lead's rarest words: "Doses above 300 mg daily are often needed"
    under "Titrate allopurinol:" is asked about allopurinol, not about "above needed"; `lead`
    is the one it stands under itself (by default its context, the whole chain of leads)."""
    chosen = _distinctive(passage.text, document_frequency, documents, PROBE_WORDS)
    distinctive = _as_written(chosen)
    if not distinctive:
        return []
    probes = [distinctive]
    if passage.section:
        probes.append(f"{passage.section[-1]}: {distinctive}")
    if lead := lead or passage.context:
        rarest = _distinctive(lead, document_frequency, documents, 2)
        probes.append(f"{_as_written(rarest)} {distinctive}")
    low, high = ABBREVIATION
    abbreviations = [
        w
        for w in dict.fromkeys(WORD.findall(passage.text))
        if low <= len(w) <= high and w.isupper() and w.isalpha()
    ]
    if abbreviations:
        top = " ".join(w for _, _, w in sorted(chosen, key=lambda t: (-t[0], t[1]))[:2])
        probes.append(f"{' '.join(abbreviations)} {top}")
    return list(dict.fromkeys(probes))


def _distinctive(
    text: str, document_frequency: Counter[str], documents: int, most: int
) -> list[tuple[float, int, str]]:
    """The `most` words of `text` rarest in the library, as (rarity, place, word)."""
    words = WORD.findall(text)
    best: dict[str, tuple[float, int, str]] = {}
    for order, (word, stem) in enumerate(zip(words, tokenize(words), strict=True)):
        if not stem or word.isdigit():
            continue
        idf = math.log((documents + 1) / (document_frequency.get(stem[0], 0) + 1))
        if stem[0] not in best or idf > best[stem[0]][0]:
            best[stem[0]] = (idf, order, word)
    return sorted(best.values(), key=lambda t: (-t[0], t[1]))[:most]


def _as_written(chosen: list[tuple[float, int, str]]) -> str:
    """`_distinctive`'s words in the order the text has them."""
    return " ".join(w for _, _, w in sorted(chosen, key=lambda t: t[1]))


def frequencies(passages: Sequence[Passage]) -> Counter[str]:
    """In how many passages each stem occurs (what makes a word distinctive)."""
    counts: Counter[str] = Counter()
    for stems in tokenize([p.text for p in passages]):
        counts.update(set(stems))
    return counts


def probe(
    retriever: Retriever, passages: Sequence[Passage], lineage: Lineage
) -> tuple[list[dict[str, Any]], int, int]:
    """Probe every new or edited passage as the version serves it (`retriever`, over
    `passages`); returns the unreachable ones (with their probes), how many passages were probed
    and how many were left unprobed."""
    frequency = frequencies(passages)
    wanted = [i for i, p in enumerate(passages) if lineage.changed(p.id)]
    probed, unreachable = wanted[:MAX_PROBED], []
    for position in probed:
        passage = passages[position]
        outcomes = []
        above = nearest_lead(passages, position)
        lead = None if above is None else passages[above].text
        for question in probe_questions(passage, frequency, len(passages), lead):
            retrieval = retriever.search(question, (), k=5)
            ranks = [h.index for h in retrieval.hits]
            rank = ranks.index(position) + 1 if position in ranks else None
            outcomes.append({"question": question, "rank": rank, "declined": retrieval.declined})
        if outcomes and not any(o["rank"] == 1 and not o["declined"] for o in outcomes):
            unreachable.append({**_named(passage), "probes": outcomes})
    return unreachable, len(probed), len(wanted) - len(probed)


def _named(passage: Passage) -> dict[str, Any]:
    return {
        "id": passage.id,
        "article": passage.article_id,
        "section": " > ".join(passage.section),
        "line": passage.line,
        "text": passage.text,
    }


def report(
    articles: Sequence[Article],
    lineage: Lineage,
    *,
    against: str | None,
    old: Sequence[Passage],
    examples: Examples | None,
    set_aside: Sequence[SetAside],
    dated: dict[str, tuple[str, str, str]] | None = None,
    listed: Mapping[str, Listed] | None = None,
) -> dict[str, Any]:
    """The manifest's `changes` entry (probes are added by the build once the version loads).
    `dated`: each article's (last updated, review status, title) in the published version;
    `listed`: its reference list there (`reflists`)."""
    passages = [p for a in articles for p in a.passages]
    by_old = {p.id: p for p in old}
    moved: Counter[tuple[str, str, str]] = Counter()
    first_line: dict[tuple[str, str, str], int] = {}
    for passage in passages:
        before = by_old.get(passage.id)
        if before is not None and before.section != passage.section:
            key = (passage.article_id, " > ".join(before.section), " > ".join(passage.section))
            moved[key] += 1
            first_line.setdefault(key, passage.line)
    recited, moved_numbers = [], 0  # the words the same, the references not
    lists = {a.id: dict(a.references) for a in articles}
    for p in passages:
        if p.id in by_old and (cited := by_old[p.id].citations) != p.citations:
            earlier = dict((listed or {}).get(p.article_id) or ())
            other = cites_other_works(cited, p.citations, earlier, lists[p.article_id])
            if other == {}:  # the same works under new numbers: the list was renumbered
                moved_numbers += 1
                continue
            recited.append(
                {**_named(p), "was": list(cited), "now": list(p.citations), **(other or {})}
            )
    renumbered = [  # the same step, at another place in its list: a protocol's order changed
        {**_named(p), "was": by_old[p.id].number, "now": p.number}
        for p in passages
        if p.id in by_old and by_old[p.id].number != p.number
    ]
    restated = []
    for article in articles:
        now = (article.last_updated.isoformat(), article.review_status, article.title)
        was = (dated or {}).get(article.id)
        if was is not None and tuple(was) != now:
            labels = ("last updated", "review status", "title")
            restated.append(
                {
                    "article": article.id,
                    "what": [[k, a, b] for k, a, b in zip(labels, was, now, strict=True) if a != b],
                }
            )
    changed = []
    for passage in passages:
        link = lineage.links.get(passage.id)
        if link is not None and link.status not in ("unchanged", "added"):
            changed.append(
                {
                    **_named(passage),
                    "status": link.status,
                    "was": [by_old[i].text for i in link.predecessors if i in by_old],
                    "cited": [list(by_old[i].citations) for i in link.predecessors if i in by_old],
                    "citations": list(passage.citations),
                }
            )
    added = [_named(p) for p in passages if lineage.status(p.id) == "added"]
    removed = [_named(by_old[i]) for i in lineage.removed if i in by_old]
    answered = {i for e in (examples.in_scope if examples else ()) for i in e.answers}
    unexampled = [_named(p) for i, p in enumerate(passages) if i not in answered]
    followed = [
        {
            "file": f.example.source,
            "line": f.example.line,
            "key": f.example.key,
            "question": f.example.question,
            "moves": [{"from": a, "to": b} for a, b in f.moves],
            "passages": [passages[i].id for i in f.example.answers],
        }
        for f in (examples.followed if examples else ())
    ]
    stale = [
        {"file": e.source, "line": e.line, "key": e.key, "question": e.question}
        for e in (examples.stale if examples else ())
    ]
    aside = [
        {
            "file": s.example.source,
            "line": s.example.line,
            "key": s.example.key,
            "question": s.example.question,
            "history": list(s.example.history),
            "passage": passages[s.position].id,
            "article": passages[s.position].article_id,
            "text": passages[s.position].text,
            "dense": round(s.dense, 4),
            "lexical": round(s.lexical, 4),
            "carried": s.carried,
        }
        for s in set_aside
    ]
    return {
        "against": against,
        "first": lineage.first,
        "passages": lineage.counts(),
        "changed": changed[:LISTED],
        "added": added[:LISTED],
        "removed": removed[:LISTED],
        "moved": [
            {"article": a, "line": first_line[(a, f, t)], "from": f, "to": t, "count": n}
            for (a, f, t), n in moved.items()
        ][:LISTED],
        "restated": restated,
        "recited": recited[:LISTED],
        "recited_same_works": moved_numbers,
        "references": list_changes(articles, listed or {}),
        "renumbered": renumbered[:LISTED],
        "examples": {
            "trained": examples is not None,
            "followed": followed,
            "stale": stale,
            "set_aside": aside,
        },
        "unexampled": {"count": len(unexampled), "passages": unexampled[:LISTED]}
        if examples is not None
        else None,
        "unreachable": [],
        "probed": 0,
        "not_probed": 0,
    }


HINTS = {
    "followed": "`mmn-assistant examples fix` writes the new words in",
    "stale": "`examples remove-stale KEY...` deletes them (`--out-of-scope`: to be declined), "
    "or correct the phrase",
    "set_aside": "`examples set-aside` lists them, `examples resolve KEY` decides",
}
"""What to do about each kind of example, in the terminal's words."""
DESK_HINTS = {
    "followed": "Changes: write the new words in",
    "stale": "Changes: remove them, or correct the phrase",
    "set_aside": "Changes: decide each",
}
"""The same, in the editors' desk's words: an editor there has no shell."""


def lines(changes: dict[str, Any] | None, hints: dict[str, str] = HINTS) -> list[str]:
    """The change report as `build` and `status` print it (the desk passes its own `hints`)."""
    if not changes:
        return ["  changes         not recorded (built before change reports)"]
    counts = changes.get("passages") or {}
    against = changes.get("against")
    if changes.get("first"):  # nothing to trace from: none published, or none readable
        since = (
            f"published version {against} unreadable, so every passage counts as new (no edit "
            "is shown as one, and no example follows one)"
            if against
            else "first build: every passage is new"
        )
    else:
        since = f"against {against}"
    out = [
        "  changes         "
        + since
        + ": "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if v or k == "unchanged")
    ]
    for item in changes.get("restated") or []:
        what = "; ".join(f"{k} {a} -> {b}" for k, a, b in item["what"])
        out.append(f"    restated  {item['article']}: {what}")
    for item in changes.get("changed") or []:
        out.append(f"    {item['status']:<9} {_where(item)} {short(item['text'])}")
        if item["status"] == "edited" and len(item.get("was") or []) == 1:
            out.append(f"              {_difference(item['was'][0], item['text'])}")
            cited = (item.get("cited") or [None])[0]  # none in reports written before
            if cited is not None and cited != item.get("citations"):
                out.append(f"              and its {_references(cited, item['citations'])}")
        elif item["status"] in ("split", "merged"):  # from what: an editor checks the pairing
            out += [f"              from {short(was, 60)!r}" for was in item.get("was") or []]
    out += list_lines(changes.get("references") or [])
    for item in changes.get("recited") or []:
        refs = _references(item["was"], item["now"])
        out.append(f"    recited   {_where(item)} {short(item['text'], 50)}: {refs}")
        out += [f"              now cites {short(w, 60)!r}" for w in item.get("adds") or []]
        out += [f"              no longer {short(w, 60)!r}" for w in item.get("drops") or []]
    if same := changes.get("recited_same_works"):
        out.append(f"    recited   {same} passage(s): new numbers for the same works")
    for item in changes.get("renumbered") or []:
        numbers = f"{item['was'] or 'unnumbered'} -> {item['now'] or 'unnumbered'}"
        out.append(f"    renumbered {_where(item)} {short(item['text'], 50)}: {numbers}")
    for item in changes.get("moved") or []:
        out.append(
            f"    moved     {item['article']}:{item['line']} {item['count']} passage(s) from "
            f"{item['from'] or '(the top)'!r} to {item['to'] or '(the top)'!r}"
        )
    for item in changes.get("added") or []:
        if not changes.get("first"):
            out.append(f"    added     {_where(item)} {short(item['text'])}")
    for item in changes.get("removed") or []:
        out.append(f"    removed   {_where(item)} {short(item['text'])}")
    examples = changes.get("examples") or {}
    followed, stale, aside = (examples.get(k) or [] for k in ("followed", "stale", "set_aside"))
    if examples.get("trained"):
        out.append(
            f"  examples        {len(followed)} followed an edit, {len(stale)} stale, "
            f"{len(aside)} out-of-scope set aside"
        )
    if followed:
        out.append(f"    followed an edit ({hints['followed']}):")
        grouped: dict[str, list[str]] = {}
        for f in followed:
            moves = describe([(m["from"], m["to"]) for m in f["moves"]])
            grouped.setdefault(moves, []).append(f["question"])
        for moves, questions in grouped.items():
            shown = "; ".join(questions[:2]) + ("; …" if len(questions) > 2 else "")
            out.append(f"      {len(questions)} × {moves}  (e.g. {shown})")
    if stale:
        out.append(
            "    stale (no passage says their gold phrases, now or as worded before: a removed "
            f"passage, or a phrase mistyped; not used; {hints['stale']}):"
        )
        out += [f"      {s['file']}:{s['line']} [{s['key']}] {s['question']}" for s in stale]
    if aside:
        out.append(
            "    set aside, training towards the new passage until resolved "
            f"({hints['set_aside']}):"
        )
        by_passage: dict[str, list[dict[str, Any]]] = {}
        for item in aside:
            by_passage.setdefault(item["passage"], []).append(item)
        for items in by_passage.values():
            out.append(f"      {len(items)} × may be answered by {short(items[0]['text'], 60)}")
            shown = "; ".join(f"[{i['key']}] {i['question']}" for i in items[:2])
            out.append(f"          {shown}" + ("; …" if len(items) > 2 else ""))
    unexampled = changes.get("unexampled")
    if unexampled:
        out.append(f"  no examples     {unexampled['count']} passages no example asks about")
    unreachable = changes.get("unreachable") or []
    probed = changes.get("probed", 0)
    note = f" ({changes['not_probed']} more not probed)" if changes.get("not_probed") else ""
    out.append(
        f"  reachability    {probed} new or edited passages probed{note}, "
        f"{len(unreachable)} unreachable"
    )
    for item in unreachable:
        tried = "; ".join(
            f"{p['question']!r}: " + ("declined" if p["declined"] else f"rank {p['rank'] or '>5'}")
            for p in item["probes"]
        )
        out.append(f"    unreachable {_where(item)} {short(item['text'])}")
        out.append(f"      probes: {tried}")
    return out


def _references(was: list[int], now: list[int]) -> str:
    """A passage's reference numbers before and after: "references [4] -> [2, 4]"."""
    return "references [{}] -> [{}]".format(", ".join(map(str, was)), ", ".join(map(str, now)))


def _where(item: dict[str, Any]) -> str:
    return f"{item['article']}:{item['line']}"


def _difference(old: str, new: str, width: int = 60) -> str:
    """The words an edit changed, with a word either side: "was '… over 60 years', now '… over
    50'", so an edit past the first 70 characters shows."""
    a, b = old.split(), new.split()
    spans = [op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
             if op[0] != "equal"]  # fmt: skip
    if not spans:
        return "was the same words, spaced otherwise"
    (_, i1, _, j1, _), (_, _, i2, _, j2) = spans[0], spans[-1]
    was = " ".join(a[max(0, i1 - 1) : i2 + 1])
    now = " ".join(b[max(0, j1 - 1) : j2 + 1])
    return f"was {short(was, width)!r}, now {short(now, width)!r}"


def fallen(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """The cross-validated figures (`training` entries of two manifests) that got worse by more
    than `FALL_SHOWN`, as lines to print. The two versions' example sets may differ, so this is
    a prompt to look (`examples set-aside`, `eval`), not a verdict."""
    old = ((before or {}).get("cross_validation") or {}) if (before or {}).get("trained") else {}
    new = ((after or {}).get("cross_validation") or {}) if (after or {}).get("trained") else {}
    found = []
    for key, label, better in CV_FIGURES:
        was, now = old.get(key), new.get(key)
        if isinstance(was, int | float) and isinstance(now, int | float):
            if (was - now) * better > FALL_SHOWN:
                found.append(f"{label} {was:.1%} -> {now:.1%}")
    return found
