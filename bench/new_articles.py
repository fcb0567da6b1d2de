"""How well a new article is answered on its first build, with and without its examples.

Each article under `--dir` (default tests/fixtures/outside/: articles written outside the team)
is added to the project's corpus: `<id>.txt` or `<id>.md`, with `<id>.gold.jsonl` scored and
never trained on, and `<id>.examples.jsonl` trained on in the second run. Each run is a first
build (as in a fresh clone) of the corpus with every new article; it reports each new article's
gold figures (and, built without their examples, the model's own ranking beside the learnt
one; "wrong article": in-scope questions answered first from an article that holds none of
their gold) and the first article's test part; `--misses` also prints each gold question
missed (its rank, whether declined, the top passage), which is not written to the results.
`--gold second` scores `<id>.second.jsonl` instead (a second gold set, written later by a
helper who saw only the articles), `--gold follow-ups` their follow-up conversations
(tests/fixtures/outside/README.md).

    .venv/bin/python bench/new_articles.py [--dir DIR] [--modes none examples] [--misses]
        [--gold second --out bench/results/new_articles_second.json]

Writes bench/results/new_articles.json (about 40 s a build on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluation import GoldItem, Report, evaluate, is_relevant, load_gold  # noqa: E402
from assistant.search.retrieval import VARIANTS  # noqa: E402
from bench.common import build_and_open, model, write  # noqa: E402


def gold_items(path: Path, prefix: str) -> list[GoldItem]:
    """A gold file whose lines need no id (the held-out sets' format)."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            data = json.loads(line)
            items.append(
                GoldItem(
                    id=f"{prefix}-{number}",
                    question=data["question"],
                    history=tuple(data.get("history") or ()),
                    gold=tuple(data["gold"]),
                    out_of_scope=not data["gold"],
                )
            )
    return items


def wrong_article(engine, report: Report) -> int:
    """In-scope questions whose first passage comes from an article none of whose passages
    holds a gold phrase: a clinician asking about one article is shown another's statement."""
    passages = engine.index.passages
    article_of = {}
    for p in passages:
        article_of.setdefault(p.text, p.article_id)
    wrong = 0
    for r in report.in_scope:
        answering = {p.article_id for p in passages if is_relevant(p.text, r.item.gold)}
        wrong += article_of.get(r.top_text) not in answering
    return wrong


MEANS = ("hit@1", "hit@3", "mrr", "declined_out_of_scope", "wrongly_declined")


def mean_over(articles) -> dict[str, float | int | None]:
    """Each figure's mean over the articles that have it (with as many questions each, as in
    the fixtures, also the pooled share), and the questions first answered from another
    article, summed."""
    articles = list(articles)
    mean: dict[str, float | int | None] = {}
    for k in MEANS:
        values = [a[k] for a in articles if a[k] is not None]
        mean[k] = round(sum(values) / len(values), 4) if values else None
    mean["wrong_article"] = sum(a["wrong_article"] for a in articles)
    return mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=ROOT / "tests" / "fixtures" / "outside")
    parser.add_argument("--misses", action="store_true", help="print the questions missed")
    parser.add_argument(
        "--gold", default="gold", help="score <id>.GOLD.jsonl (default gold; or second, follow-ups)"
    )
    parser.add_argument(
        "--modes", nargs="+", choices=("none", "examples"), default=["none", "examples"]
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "new_articles.json"
    )
    args = parser.parse_args()
    articles = sorted(
        p
        for p in args.dir.iterdir()
        if p.suffix in (".txt", ".md") and (args.dir / f"{p.stem}.{args.gold}.jsonl").exists()
    )
    embedder = model()
    first_test = load_gold(ROOT / "tests" / "gold" / "test.jsonl")
    root = Path(tempfile.mkdtemp(prefix="bench-new-articles-"))
    runs = []
    for mode in args.modes:
        corpus = root / f"corpus-{mode}"
        shutil.copytree(ROOT / "corpus", corpus)
        for article in articles:
            shutil.copy(article, corpus / article.name)
            examples = args.dir / f"{article.stem}.examples.jsonl"
            if mode == "examples" and examples.exists():
                shutil.copy(examples, corpus / "examples" / f"{article.stem}.jsonl")
        loaded, engine, seconds = build_and_open(corpus, embedder, root / f"index-{mode}")
        run = {
            "examples": mode,
            "build_seconds": seconds,
            "set_aside": len(loaded.manifest.changes["examples"]["set_aside"]),
            "first_article_test": evaluate(engine, first_test).metrics(),
            "articles": {},
        }
        print(f"{mode}: first article hit@1 {run['first_article_test']['hit@1']:.3f}", flush=True)
        for article in articles:
            gold = gold_items(args.dir / f"{article.stem}.{args.gold}.jsonl", "g")
            report = evaluate(engine, gold)
            figures = report.metrics()
            figures["wrong_article"] = wrong_article(engine, report)
            if mode == "none":  # what the model alone ranks first: the learnt ranker's baseline
                untrained = evaluate(engine, gold, options=VARIANTS["dense (untrained)"])
                figures["untrained_hit@1"] = untrained.metrics()["hit@1"]
                figures["untrained_wrong_article"] = wrong_article(engine, untrained)
            run["articles"][article.stem] = figures
            print(
                f"  {article.stem[:44]:<44} hit@1 {figures['hit@1']:.3f} hit@3 "
                f"{figures['hit@3']:.3f} MRR {figures['mrr']:.3f} declined "
                f"{figures['declined_out_of_scope']:.3f} wrongly {figures['wrongly_declined']:.3f}"
                f" wrong article {figures['wrong_article']}"
                + (
                    f" (the model alone: hit@1 {figures['untrained_hit@1']:.3f}, wrong article "
                    f"{figures['untrained_wrong_article']})"
                    if mode == "none"
                    else ""
                ),
                flush=True,
            )
            if args.misses:
                for r in report.results:
                    missed = not r.item.out_of_scope and r.rank != 1
                    if r.declined != r.item.out_of_scope or missed:
                        print(f"    rank {r.rank} declined {r.declined}: {r.item.question!r} -> "
                              f"{r.top_text[:70]!r}")  # fmt: skip
        run["mean"] = mean_over(run["articles"].values())
        print(
            "  mean over the articles: " + ", ".join(f"{k} {v}" for k, v in run["mean"].items()),
            flush=True,
        )
        runs.append(run)
    shutil.rmtree(root, ignore_errors=True)
    write(
        args.out,
        {"benchmark": "new articles", "dir": str(args.dir), "gold": args.gold, "runs": runs},
    )


if __name__ == "__main__":
    main()
