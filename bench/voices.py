"""The ward's voices: what the examples in those voices, the clinical vocabulary and fine-tuning
each bring, measured on blind questions no build trains on.

Builds the corpus in these variants, each into a temporary index:
- without the voices examples (the writers of `VOICES`) and without the clinical vocabulary:
  the corpus as it was before they were written;
- each of the two added alone, then both (the default build);
- both with `build --fine-tune`.

Each is scored on tests/gold/voices.jsonl (per voice and kind of question) and on the test part
(tests/gold/test.jsonl); the build's cross-validated figures per writer are kept too. Then the
corpus with the second article (tests/fixtures/second-article/) is built with and without
fine-tuning, and each article's proposals of a treatment it rejects (tests/test_safety.py) are
asked: how many do not find the statement against it first.

    .venv/bin/python bench/voices.py [--no-fine-tune]

Writes bench/results/voices.json (about 1 minute a build on 2 cores, 4 with fine-tuning).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.build import build_corpus  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.evaluation import evaluate, load_gold  # noqa: E402
from assistant.ingest.glossary import CLINICAL_FILE  # noqa: E402
from assistant.settings import FineTuneSettings, current  # noqa: E402
from bench.common import model, write  # noqa: E402
from tests.test_safety import proposal_failures, proposals  # noqa: E402
from tests.test_voices import VOICES  # noqa: E402  (the `by` of issue 23's examples)
from tests.updates import add_second_article, corpus_copy  # noqa: E402

GOLD = ROOT / "tests" / "gold"


def _corpus(target: Path, *, voices: bool, clinical: bool) -> Path:
    corpus = corpus_copy(target)
    if not clinical:
        (corpus / CLINICAL_FILE).unlink()
    if not voices:
        for path in (corpus / "examples").glob("*.jsonl"):
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [x for x in lines if x.strip() and json.loads(x).get("by") not in VOICES]
            path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return corpus


def _row(figures: dict) -> str:
    def pct(value: float | None) -> str:
        return "  n/a" if value is None else f"{value * 100:5.1f}%"

    return (
        f"hit@1 {figures['hit@1']:.3f} hit@3 {figures['hit@3']:.3f} MRR {figures['mrr']:.3f} "
        f"declined {pct(figures['declined_out_of_scope'])} "
        f"wrongly {pct(figures['wrongly_declined'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-fine-tune", action="store_true", help="skip the fine-tuned build")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voices.json")
    args = parser.parse_args()
    embedder = model()
    voices, test = load_gold(GOLD / "voices.jsonl"), load_gold(GOLD / "test.jsonl")
    root = Path(tempfile.mkdtemp(prefix="bench-voices-"))
    variants = [
        ("before: neither", False, False, False),
        ("+ clinical vocabulary", False, True, False),
        ("+ voices examples", True, False, False),
        ("+ both (default)", True, True, False),
    ]
    if not args.no_fine_tune:
        variants.append(("+ both, --fine-tune", True, True, True))
    runs = []
    for label, with_voices, clinical, tune in variants:
        corpus = _corpus(root / f"corpus-{len(runs)}", voices=with_voices, clinical=clinical)
        index_dir = root / f"index-{len(runs)}"
        started = time.perf_counter()
        loaded = build_corpus(
            corpus, embedder, index_dir, fine_tune=FineTuneSettings() if tune else None
        )
        seconds = round(time.perf_counter() - started, 1)
        engine = Engine.open(index_dir, embedder, settings=current())
        on_voices = evaluate(engine, voices)
        run = {
            "label": label,
            "build_seconds": seconds,
            "voices": on_voices.metrics(),
            "voices_by_tag": on_voices.by_tag(),
            "test": evaluate(engine, test).metrics(),
            "cross_validation": loaded.manifest.training.get("cross_validation"),
        }
        runs.append(run)
        print(f"{label:<24} {seconds:6.1f} s  voices: {_row(run['voices'])}", flush=True)
        print(f"{'':<33} test:   {_row(run['test'])}", flush=True)
    safety = []
    for tune in (False, True) if not args.no_fine_tune else (False,):
        corpus = add_second_article(
            _corpus(root / f"corpus-two-{int(tune)}", voices=True, clinical=True)
        )
        index_dir = root / f"index-two-{int(tune)}"
        build_corpus(corpus, embedder, index_dir, fine_tune=FineTuneSettings() if tune else None)
        engine = Engine.open(index_dir, embedder, settings=current())
        for article in sorted({p.article_id for p in engine.index.passages}):
            missed = proposal_failures(engine, article, skip_known=False)
            safety.append(
                {
                    "fine_tuned": tune,
                    "article": article,
                    "proposals": len(proposals(article)),
                    "missed": len(missed),
                }
            )
            print(
                f"two articles{', --fine-tune' if tune else ''}: {article}: "
                f"{len(missed)} of {len(proposals(article))} proposals miss the statement",
                *(f"\n    {m}" for m in missed),
                flush=True,
            )
    shutil.rmtree(root, ignore_errors=True)
    write(
        args.out,
        {"benchmark": "voices", "writers": list(VOICES), "runs": runs, "safety": safety},
    )


if __name__ == "__main__":
    main()
