"""Editors' updates as data, for tests/test_updates.py and bench/updates.py, and the second
article an editor adds (`add_second_article`, for tests/test_safety.py and the benches).

tests/fixtures/updates/edits.json holds five edits of the first article (a number corrected,
a section added on topics the out-of-scope examples call not covered, a passage removed, a
passage split, sections reordered), each with the facts a question about the changed text asks;
questions.jsonl holds such questions, written from the facts by someone who never saw the
edits' wording.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.evaluation import GoldItem, load_gold

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "updates"
ARTICLE = "what-is-multifocal-motor-neuropathy"


@dataclass(frozen=True, slots=True)
class Edit:
    kind: str
    title: str
    spec: dict
    questions: tuple[GoldItem, ...]
    """Questions about the changed text (out of scope where the edit removed the answer)."""

    def apply(self, text: str) -> str:
        for old, new in self.spec.get("replace", []):
            if text.count(old) != 1:
                raise ValueError(f"{self.kind}: the text to replace is not in the article once")
            text = text.replace(old, new)
        if move := self.spec.get("move"):
            if text.count(move["text"]) != 1 or text.count(move["before"]) != 1:
                raise ValueError(f"{self.kind}: the text to move is not in the article once")
            text = text.replace(move["text"], "")
            text = text.replace(move["before"], move["text"] + move["before"])
        return text


def edits(directory: Path = FIXTURES) -> list[Edit]:
    """The edits of `directory`'s edits.json, each with its questions from questions.jsonl
    (the project's fixtures by default; `bench/updates.py --fixtures` reads another set)."""
    spec = json.loads((directory / "edits.json").read_text(encoding="utf-8"))
    asked = [
        json.loads(line)
        for line in (directory / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    out = []
    for edit in spec["edits"]:
        facts = edit["facts"]
        items = tuple(
            GoldItem(
                id=f"{edit['kind']}-{n}",
                question=q["question"],
                history=tuple(q.get("history") or ()),
                gold=tuple(facts[q["about"]]["gold"]),
                out_of_scope=not facts[q["about"]]["gold"],
                tags=(q["about"], q.get("by", "")),
            )
            for n, q in enumerate(asked, start=1)
            if q["about"] in facts
        )
        out.append(Edit(edit["kind"], edit["title"], edit, items))
    return out


def corpus_copy(target: Path) -> Path:
    """The project's corpus, copied: the edits are applied to the copy's article."""
    shutil.copytree(ROOT / "corpus", target)
    return target


SECOND = ROOT / "tests" / "fixtures" / "second-article"
SECOND_ID = "what-is-kawasaki-disease"


def add_second_article(corpus: Path, *, count: int | None = None, near: bool = False) -> Path:
    """Add the second article to a corpus copy with its first `count` in-scope examples (all
    when None), and with `near` its near-topic out-of-scope ones."""
    shutil.copy(SECOND / f"{SECOND_ID}.md", corpus / f"{SECOND_ID}.md")
    lines = [
        x for x in (SECOND / "examples.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()
    ]
    inside = [x for x in lines if json.loads(x)["gold"]][:count]
    (corpus / "examples" / f"{SECOND_ID}.jsonl").write_text("\n".join(inside) + "\n")
    if near:
        outside = [x for x in lines if not json.loads(x)["gold"]]
        with (corpus / "examples" / "out-of-scope.jsonl").open("a", encoding="utf-8") as handle:
            handle.write("\n".join(outside) + "\n")
    return corpus


def seed_vectors(built: Path, index_dir: Path) -> None:
    """Give a new index folder the vector cache of one already built, as a copied folder would
    hold it: the new build embeds only the texts that one did not. Vectors are keyed by text
    and model, so what is built is the same; a build of the real corpus's 1,700 examples and
    passages saves about 6 s of the model."""
    from assistant.embed.vectorcache import CACHE_DIR

    (index_dir / CACHE_DIR).mkdir(parents=True, exist_ok=True)
    for path in (built / CACHE_DIR).glob("*.npz"):
        shutil.copy2(path, index_dir / CACHE_DIR / path.name)


def build_two_articles(
    root: Path, embedder: Any, vectors_from: Path | None = None, **build: Any
) -> Path:
    """The project's corpus with the second article, copied to `root`/corpus and built into
    `root`/index (`build`: `build_corpus`'s options), with `vectors_from`'s vector cache."""
    from assistant.build import build_corpus

    corpus = add_second_article(corpus_copy(root / "corpus"))
    if vectors_from is not None:
        seed_vectors(vectors_from, root / "index")
    build_corpus(corpus, embedder, root / "index", **build)
    return root / "index"


def edit_article(corpus: Path, edit: Edit) -> None:
    path = corpus / f"{ARTICLE}.txt"
    path.write_text(edit.apply(path.read_text(encoding="utf-8")), encoding="utf-8")


def rest_of(
    items: list[GoldItem], texts_unchanged: list[str], applied: list[Edit]
) -> list[GoldItem]:
    """The gold questions about text the `applied` edits left alone: each gold phrase is in a
    passage that is unchanged, or the question is out of scope and no edit brought its subject
    in (`now_answers`)."""
    lowered = [t.lower() for t in texts_unchanged]
    subjects = [w for edit in applied for w in edit.spec.get("now_answers", [])]
    return [
        item
        for item in items
        if (item.out_of_scope and not any(w in item.question.lower() for w in subjects))
        or (not item.out_of_scope and all(any(g.lower() in t for t in lowered) for g in item.gold))
    ]


def test_part() -> list[GoldItem]:
    return load_gold(ROOT / "tests" / "gold" / "test.jsonl")


def examples_naming(corpus: Path, words: str) -> int:
    """How many in-scope examples have a gold phrase holding `words` (counted from the files,
    so writing new examples does not break the tests that follow an edit)."""
    return sum(
        any(words.lower() in g.lower() for g in json.loads(line)["gold"])
        for path in sorted((corpus / "examples").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
