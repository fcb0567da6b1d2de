"""Editors' updates: do questions about the changed text still find it?

Applies the five edits of tests/fixtures/updates/edits.json to the first article one after
another, as an editor would, rebuilding after each. For each kind of edit it measures the
questions about the changed text (tests/fixtures/updates/questions.jsonl, written from the
facts by someone who never saw the edit's wording), and the test part's questions about the
rest of the article:

- before: the build as it was before issue 22: the edited corpus built afresh, with no
  published version to follow (examples of an edited passage go stale, out-of-scope examples
  are never set aside) and no questions derived from the passages;
- after: the same corpus built over the version before the edit, as `make build` does.

    .venv/bin/python bench/updates.py

Writes bench/results/updates.json (about 10 builds: 5-15 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.build import build_corpus  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.evaluation import evaluate  # noqa: E402
from assistant.settings import TrainingSettings, current  # noqa: E402
from bench.common import model, write  # noqa: E402
from tests.updates import (  # noqa: E402
    FIXTURES,
    corpus_copy,
    edit_article,
    edits,
    rest_of,
    test_part,
)

KEYS = ("questions", "out_of_scope_questions", "hit@1", "hit@3", "mrr", "declined_out_of_scope",
        "wrongly_declined")  # fmt: skip


def measure(engine: Engine, items: list) -> dict:
    figures = evaluate(engine, items).metrics()
    return {k: figures.get(k) for k in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "updates.json")
    parser.add_argument(
        "--fixtures",
        type=Path,
        default=FIXTURES,
        help="a directory with edits.json and questions.jsonl (another writer's set of edits)",
    )
    args = parser.parse_args()
    planned = edits(args.fixtures)
    embedder = model()
    root = Path(tempfile.mkdtemp(prefix="bench-updates-"))
    corpus = corpus_copy(root / "corpus")
    live = root / "index"
    build_corpus(corpus, embedder, live)
    test = test_part()
    runs: list[dict] = []
    touched: set[str] = set()  # passages any edit so far changed or added
    for number, edit in enumerate(planned):
        edit_article(corpus, edit)
        started = time.perf_counter()
        after = build_corpus(corpus, embedder, live)
        seconds = round(time.perf_counter() - started, 1)
        fresh = root / f"fresh-{number}"
        build_corpus(corpus, embedder, fresh, training=TrainingSettings(derived_weight=0.0))
        changes = after.manifest.changes or {}
        touched |= {c["id"] for c in changes.get("changed", [])}
        touched |= {a["id"] for a in changes.get("added", [])}
        unchanged = [p.text for p in after.passages if p.id not in touched]
        rest = rest_of(test, unchanged, planned[: number + 1])
        run = {"kind": edit.kind, "title": edit.title, "build_seconds": seconds}
        for label, index_dir in (("before", fresh), ("after", live)):
            engine = Engine.open(index_dir, embedder, settings=current())
            run[label] = {
                "changed_text": measure(engine, list(edit.questions)),
                "rest_of_test_part": measure(engine, rest),
            }
        examples = changes.get("examples", {})
        run["report"] = {
            "passages": changes.get("passages"),
            "followed": len(examples.get("followed", [])),
            "stale": len(examples.get("stale", [])),
            "set_aside": [s["question"] for s in examples.get("set_aside", [])],
            "unreachable": [u["text"] for u in changes.get("unreachable", [])],
        }
        runs.append(run)
        b, a = run["before"]["changed_text"], run["after"]["changed_text"]
        print(
            f"{edit.kind:<10} changed text ({b['questions']} in scope, "
            f"{b['out_of_scope_questions']} out): hit@1 {b['hit@1']} -> {a['hit@1']}, "
            f"declined in scope {b['wrongly_declined']} -> {a['wrongly_declined']}, "
            f"declined out {b['declined_out_of_scope']} -> {a['declined_out_of_scope']} | "
            f"rest hit@1 {run['before']['rest_of_test_part']['hit@1']} -> "
            f"{run['after']['rest_of_test_part']['hit@1']} | {run['report']}",
            flush=True,
        )
    shutil.rmtree(root, ignore_errors=True)
    write(args.out, {"benchmark": "editors' updates", "runs": runs})


if __name__ == "__main__":
    main()
