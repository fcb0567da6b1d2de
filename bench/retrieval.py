"""What retrieval costs beyond the query embedding, stage by stage.

Runs every gold question (dev and test parts) through the engine, warm, several times, and
reports per stage the median and p95 time per question: vocabulary, embedding, the learnt
query adapter, FAISS search, BM25, fusion with the decline decision, relevance labels and
answer assembly. Issue 13's budget: the query-time work the learnt ranker adds (the adapter)
stays under 0.2x the query embedding; issue 3's: all added stages under a third of it.

    .venv/bin/python bench/retrieval.py [--index-dir DIR] [--repeat 5]

Writes bench/results/retrieval.json. Without --index-dir it builds the corpus into a
temporary directory first.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answer import answer_to_dict, assemble  # noqa: E402
from assistant.evaluation import load_gold  # noqa: E402
from assistant.search.retrieval import relevant_flags  # noqa: E402
from bench.common import open_engine, percentile  # noqa: E402

ADDED = (
    "vocabulary",
    "adapter",
    "dense search",
    "lexical",
    "fusion",
    "labels",
    "assembly",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "retrieval.json")
    args = parser.parse_args()

    engine, _ = open_engine(args.index_dir)
    embedder = engine.embedder.inner.inner  # the model itself, past the cache and the batcher
    items = load_gold(ROOT / "tests/gold/dev.jsonl") + load_gold(ROOT / "tests/gold/test.jsonl")

    for item in items[:20]:  # warm up caches and the model's first calls
        engine.ask(item.question, item.history)

    per_stage: dict[str, list[float]] = {}
    single_embedding: list[float] = []
    for _ in range(args.repeat):
        for item in items:
            timings: dict[str, float] = {}
            retrieval = engine.retrieve(item.question, item.history, 5, timings=timings)
            started = time.perf_counter()
            relevant = relevant_flags(retrieval, engine.ranker.relevant_margin)
            timings["labels"] = time.perf_counter() - started
            started = time.perf_counter()
            answer_to_dict(
                assemble(
                    item.question,
                    item.history,
                    retrieval.hits,
                    engine.index,
                    answerable=not retrieval.declined,
                    relevant=list(relevant),
                )
            )
            timings["assembly"] = time.perf_counter() - started
            for stage, seconds in timings.items():
                per_stage.setdefault(stage, []).append(seconds * 1000)
            started = time.perf_counter()
            embedder.embed([item.question])
            single_embedding.append((time.perf_counter() - started) * 1000)

    stages = {
        stage: {
            "p50_ms": round(statistics.median(v), 4),
            "p95_ms": round(percentile(v, 0.95), 4),
            "mean_ms": round(statistics.fmean(v), 4),
        }
        for stage, v in per_stage.items()
    }
    embedding_p50 = statistics.median(single_embedding)
    added_mean = sum(stages[s]["mean_ms"] for s in ADDED if s in stages)
    added_p50 = statistics.median(
        [
            sum(per_stage[s][i] for s in ADDED if s in per_stage)
            for i in range(len(single_embedding))
        ]
    )
    result = {
        "benchmark": "retrieval stages",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "questions": len(items),
        "repeat": args.repeat,
        "stages": stages,
        "query_embedding_p50_ms": round(embedding_p50, 4),
        "added_stages_p50_ms": round(added_p50, 4),
        "added_stages_mean_ms": round(added_mean, 4),
        "added_over_embedding_p50": round(added_p50 / embedding_p50, 4),
        "budget": "added stages at most 1/3 of the query embedding",
        "within_budget": added_p50 <= embedding_p50 / 3,
        "adapter_p50_ms": stages.get("adapter", {}).get("p50_ms"),
        "adapter_over_embedding_p50": round(
            stages.get("adapter", {}).get("p50_ms", 0.0) / embedding_p50, 4
        ),
        "adapter_budget": "the learnt ranker's query-time work under 0.2x the query embedding",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(items)} questions x {args.repeat}, warm, in-process")
    print(f"{'stage':<16} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9}")
    for stage, figures in stages.items():
        print(
            f"{stage:<16} {figures['p50_ms']:>9.3f} {figures['p95_ms']:>9.3f} {figures['mean_ms']:>9.3f}"
        )
    print(f"query embedding alone (one text): p50 {embedding_p50:.3f} ms")
    print(
        f"added stages: p50 {added_p50:.3f} ms = {added_p50 / embedding_p50:.2f} x the embedding "
        f"({'within' if result['within_budget'] else 'OVER'} the 1/3 budget)"
    )
    print(
        f"learnt adapter: p50 {result['adapter_p50_ms']:.3f} ms = "
        f"{result['adapter_over_embedding_p50']:.3f} x the embedding (budget 0.2)"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
