"""What adding a second article costs the first, and how many examples the new one needs.

An editor adds an article in another specialty that shares the first one's words (IVIg,
plasma exchange, antibodies, corticosteroids): the synthetic Kawasaki disease article under
tests/fixtures/second-article/ with its example questions, and a held-out set of its questions
that no build trains on. For each number of the new article's examples (and with or without its
near-domain out-of-scope examples), this builds the two-article corpus and measures:

- the first article's test part (tests/gold/test.jsonl): hit@1 against the one-article build;
- the new article's held-out questions: hit@1, hit@3, MRR, declined and wrongly declined.

    .venv/bin/python bench/second_article.py [--counts 20 40 80]

Writes bench/results/second_article.json (about 1 minute a build on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluation import evaluate, load_gold  # noqa: E402
from bench.common import build_and_open, model, write  # noqa: E402
from bench.new_articles import gold_items  # noqa: E402
from tests.updates import SECOND, add_second_article, corpus_copy  # noqa: E402


def _corpus(root: Path, count: int, near: bool) -> Path:
    """The project's corpus plus the second article and its first `count` in-scope examples."""
    corpus = corpus_copy(root / f"corpus-{count}-{int(near)}")
    return add_second_article(corpus, count=count, near=near)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "second_article.json"
    )
    args = parser.parse_args()
    embedder = model()
    first_test = load_gold(ROOT / "tests" / "gold" / "test.jsonl")
    held_out = gold_items(SECOND / "heldout.jsonl", "kd")
    root = Path(tempfile.mkdtemp(prefix="bench-second-"))
    runs = []

    def measure(label: str, corpus: Path, *, second: bool) -> None:
        loaded, engine, seconds = build_and_open(corpus, embedder, root / f"index-{len(runs)}")
        run = {
            "label": label,
            "build_seconds": seconds,
            "cross_validation": loaded.manifest.training.get("cross_validation"),
            "first_article_test": evaluate(engine, first_test).metrics(),
        }
        if second:
            run["second_article_held_out"] = evaluate(engine, held_out).metrics()
        runs.append(run)
        first = run["first_article_test"]
        line = f"{label:<42} first article: hit@1 {first['hit@1']:.3f}"
        if second:
            new = run["second_article_held_out"]
            line += (
                f" | new article held out: hit@1 {new['hit@1']:.3f} hit@3 {new['hit@3']:.3f} "
                f"MRR {new['mrr']:.3f} declined {new['declined_out_of_scope']:.3f} "
                f"wrongly {new['wrongly_declined']:.3f}"
            )
        print(line, flush=True)

    measure("first article alone", ROOT / "corpus", second=False)
    for count in args.counts:
        for near in (True, False):
            corpus = _corpus(root, count, near)
            label = f"+ second article, {count} examples" + (", + near OOS" if near else "")
            measure(label, corpus, second=True)
    shutil.rmtree(root, ignore_errors=True)
    write(
        args.out, {"benchmark": "second article", "held_out_questions": len(held_out), "runs": runs}
    )


if __name__ == "__main__":
    main()
