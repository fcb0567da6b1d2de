"""Vector search as the library grows: FAISS flat against HNSW, IVF-SQ8 and IVF-PQ.

Synthetic libraries of 10k, 100k and 1M passages. Up to `--real` of them (50k by default) are
real embeddings: synthetic passages recombined from the article's own clauses, embedded by the
model; the rest are random unit vectors of the model's dimension. Queries are the gold
questions, embedded by the model. For each size and index kind: build time, index size on disk
and in memory, single-query search p50/p99, and recall@10 against the exact (flat) search; for
the approximate kinds, recall and speed at several search depths (nprobe, efSearch). The
one-article case (the real index, 32 passages, flat) is measured in the same run, and so is the
query embedding, to put the search in the whole retrieval's time.

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--real 50000]
                                    [--kinds flat,ivf-fp16,ivf-sq8,hnsw,ivfpq] [--hnsw-max 100000]

HNSW's build is the slowest part (about 2 minutes for 100k on two cores and growing faster
than the size); above `--hnsw-max` it is skipped and the results say so. The embedded synthetic
passages are kept in index/bench-cache/ so that a second run does not embed them again.
Writes bench/results/scale.json and bench/results/scale.png.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, figures, model, write  # noqa: E402

TARGETS = {"search_p50_vs_one_article": 2.0, "recall_at_10": 0.95, "memory_bytes": 1 << 30}
DEPTHS = {
    "ivf-fp16": [8, 16, 32, 64, 128],
    "ivf-sq8": [8, 16, 32, 64, 128],
    "ivfpq": [16, 64, 128],
    "hnsw": [32, 64, 128, 256],
}


MEMORY_PROBE = """
import os, sys, faiss
def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before = rss()
index = faiss.read_index(sys.argv[1])
print(rss() - before)
"""


def memory_bytes(blob) -> int:
    """Resident memory the index takes once loaded, in a fresh process: in this one, the
    allocator reuses what earlier indexes freed and the figure would read near zero."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".faiss") as handle:
        blob.tofile(handle.name)
        done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, handle.name],
                              capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout.strip())


def synthetic_texts(count: int, seed: int = 0) -> list[str]:
    """Passages that read like the article's: 2 to 4 of its clauses, recombined."""
    import numpy as np

    from assistant.ingest.corpus import load_corpus

    clauses = sorted(
        {
            c.strip()
            for article in load_corpus(ROOT / "corpus")
            for p in article.passages
            for c in re.split(r"[.;:,]\s+|\s+-\s+", p.text)
            if len(c.split()) >= 3
        }
    )
    rng = np.random.default_rng(seed)
    texts = []
    for i in range(count):
        parts = rng.choice(len(clauses), size=int(rng.integers(2, 5)), replace=False)
        texts.append(f"{'; '.join(clauses[j] for j in parts)} ({i})")
    return texts


def real_vectors(embedder: Any, count: int):
    import numpy as np

    cache = ROOT / "index" / "bench-cache"
    key = hashlib.sha256(f"{embedder.info.weights_sha256}-{count}-v1".encode()).hexdigest()[:12]
    path = cache / f"synthetic-{count}-{key}.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    vectors = embedder.embed(synthetic_texts(count), progress=sys.stderr.isatty())
    print(f"embedded {count:,} synthetic passages in {time.perf_counter() - started:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def library(real, size: int, dimension: int, seed: int = 1):
    import numpy as np

    if size <= len(real):
        return np.ascontiguousarray(real[:size])
    rng = np.random.default_rng(seed)
    out = np.empty((size, dimension), dtype=np.float32)
    out[: len(real)] = real
    for start in range(len(real), size, 100_000):  # in slices: no second full-size copy
        end = min(size, start + 100_000)
        block = rng.standard_normal((end - start, dimension), dtype=np.float32)
        out[start:end] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def search_times(index: Any, queries, repeats: int = 3) -> list[float]:
    times = []
    for _ in range(repeats):
        for q in queries:
            started = time.perf_counter()
            index.search(q[None, :], 10)
            times.append((time.perf_counter() - started) * 1000)
    return times


def recall(found, truth) -> float:
    import numpy as np

    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def set_depth(index: Any, kind: str, depth: int) -> None:
    if kind == "hnsw":
        index.hnsw.efSearch = depth
    else:
        index.nprobe = min(depth, index.nlist)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--real", type=int, default=50_000)
    parser.add_argument("--kinds", default="flat,ivf-fp16,ivf-sq8,hnsw,ivfpq")
    parser.add_argument("--hnsw-max", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")

    import faiss

    from assistant.evaluation import load_gold
    from assistant.search.vectorindex import build_vectors, choose, use_search_threads

    embedder = model()
    gold = load_gold(ROOT / "tests/gold/dev.jsonl") + load_gold(ROOT / "tests/gold/test.jsonl")
    questions = list(dict.fromkeys(item.question for item in gold))
    queries = embedder.embed(questions)
    embedding_ms = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed([question])
        embedding_ms.append((time.perf_counter() - started) * 1000)
    real = real_vectors(embedder, min(args.real, max(sizes)))

    from bench.common import open_engine

    engine, _ = open_engine(None)
    use_search_threads()
    one_article = figures(search_times(engine.index.vectors.index, queries, repeats=10))
    print(f"one article ({engine.index.vectors.size} passages, flat): "
          f"search p50 {one_article['p50_ms']:.3f} ms; query embedding p50 "
          f"{figures(embedding_ms)['p50_ms']:.2f} ms")  # fmt: skip

    rows: list[dict[str, Any]] = []
    for size in sizes:
        data = library(real, size, queries.shape[1])
        exact = faiss.IndexFlatIP(data.shape[1])
        exact.add(data)
        _, truth = exact.search(queries, 10)
        del exact
        auto = choose(size)
        for kind in kinds:
            row: dict[str, Any] = {"size": size, "kind": kind, "auto": kind == auto.kind,
                                   "real_vectors": min(size, len(real))}  # fmt: skip
            if kind == "hnsw" and size > args.hnsw_max:
                row["skipped"] = (f"HNSW not built above --hnsw-max {args.hnsw_max:,}: its build "
                                  "grows faster than the size (see the 100k row)")  # fmt: skip
                rows.append(row)
                print(f"{size:>9,} {kind:8} skipped")
                continue
            started = time.perf_counter()
            index, choice = build_vectors(data, choose(size, kind))
            row["build_s"] = round(time.perf_counter() - started, 2)
            row["params"] = choice.params
            blob = faiss.serialize_index(index)
            row["disk_bytes"] = int(blob.nbytes)
            row["memory_bytes"] = memory_bytes(blob)
            del index
            index = faiss.deserialize_index(blob)
            del blob
            use_search_threads()
            times = search_times(index, queries)
            row["search"] = figures(times)
            _, found = index.search(queries, 10)
            row["recall_at_10"] = round(recall(found, truth), 4)
            if kind in DEPTHS:
                default = index.hnsw.efSearch if kind == "hnsw" else index.nprobe
                sweep = []
                for depth in DEPTHS[kind]:
                    set_depth(index, kind, depth)
                    _, found = index.search(queries, 10)
                    sweep.append({"depth": depth, "recall_at_10": round(recall(found, truth), 4),
                                  "search": figures(search_times(index, queries, repeats=1))})  # fmt: skip
                set_depth(index, kind, default)
                row["depth_sweep"] = sweep
            row["search_p50_vs_one_article"] = round(
                row["search"]["p50_ms"] / one_article["p50_ms"], 2
            )
            row["retrieval_p50_vs_one_article"] = round(
                (figures(embedding_ms)["p50_ms"] + row["search"]["p50_ms"])
                / (figures(embedding_ms)["p50_ms"] + one_article["p50_ms"]),
                3,
            )
            rows.append(row)
            del index
            print(f"{size:>9,} {kind:8} build {row['build_s']:>7.1f} s  disk "
                  f"{row['disk_bytes'] / 2**20:>7.1f} MiB  memory {row['memory_bytes'] / 2**20:>7.1f} MiB  "
                  f"search p50 {row['search']['p50_ms']:>7.3f} p99 {row['search']['p99_ms']:>7.3f} ms  "
                  f"recall@10 {row['recall_at_10']:.3f}{'  (auto)' if row['auto'] else ''}",
                  flush=True)  # fmt: skip
        del data

    write(
        args.out,
        {
            "benchmark": "vector search by library size and FAISS index kind",
            "queries": len(questions),
            "one_article": {"passages": int(engine.index.vectors.size), "search": one_article},
            "query_embedding": figures(embedding_ms),
            "embedding_runtime": embedder.runtime,
            "targets": TARGETS,
            "rows": rows,
        },
    )
    from bench.charts import draw_scale

    print(f"wrote {draw_scale(args.out)}")


if __name__ == "__main__":
    main()
