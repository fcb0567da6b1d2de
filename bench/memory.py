"""Memory of `serve --workers 1` against `--workers 4` over a 100k-passage library.

The library: the corpus's articles copied until it holds `--passages` passages (3,125 copies of
the MMN article for 100k), each passage's text replaced by clauses of the article recombined
(`bench/scale.py`'s synthetic passages), so that BM25 sees a real vocabulary. The vectors are
random unit vectors recorded under the real model's name and weights: memory does not depend on
their values, and embedding 100k passages would take the model about 20 minutes here. The
version is built with `build_index` as `mmn-assistant build --no-train` would, so its FAISS
index is the kind `auto` picks at that size (ivf-fp16 from 100k; `--index-type flat` for the
exact scan).

For each worker count: a real server on 127.0.0.1, healthy, then `--questions` answers spread
over the workers so each has touched its index; then the memory of every process of the server
(the master and its workers) from /proc: RSS, which counts a shared page in every process
that maps it, and PSS, which divides a shared page among them (the memory the machine gives the
server). Pages of the memory-mapped FAISS and BM25 files are shared by all workers.

    .venv/bin/python bench/memory.py [--passages 100000] [--workers 1,4] [--index-type auto]

Writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, free_port, write  # noqa: E402
from bench.scale import synthetic_texts  # noqa: E402

TARGET = 2.0
"""Issue 16: 4 workers use less than twice the memory of 1."""


class RandomVectors:
    """Unit vectors recorded as the real model's: the server checks the name, not the values."""

    def __init__(self, info, seed: int = 7) -> None:
        self.info = info
        self._rng = np.random.default_rng(seed)

    def embed(self, texts, *, progress: bool = False) -> np.ndarray:
        vectors = self._rng.standard_normal((len(texts), self.info.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def library(passages: int) -> list:
    """The corpus's articles, copied (with new ids and synthetic passage texts) to `passages`."""
    from assistant.ingest.corpus import load_corpus

    originals = load_corpus(ROOT / "corpus")
    texts = iter(synthetic_texts(passages))
    articles, made = [], 0
    copy = 0
    while made < passages:
        for original in originals:
            if made >= passages:
                break
            article_id = f"{original.id}-{copy}"
            kept = original.passages[: passages - made]
            copied = tuple(
                dataclasses.replace(
                    p,
                    id=f"{article_id}-{p.position}",
                    article_id=article_id,
                    text=(text := next(texts)),
                    index_text=text,
                )
                for p in kept
            )
            articles.append(dataclasses.replace(original, id=article_id, passages=copied))
            made += len(copied)
        copy += 1
    return articles


def build(index_dir: Path, passages: int, index_type: str) -> dict:
    from assistant.build import build_index
    from assistant.embed.embedding import SentenceTransformerEmbedder

    started = time.perf_counter()
    articles = library(passages)
    info = SentenceTransformerEmbedder().info  # the weights are checked, the model not loaded
    loaded = build_index(articles, RandomVectors(info), index_dir, index_type=index_type)
    sizes = {p.name: p.stat().st_size for p in loaded.path.iterdir() if p.is_file()}
    sizes["lexical"] = sum(p.stat().st_size for p in (loaded.path / "lexical").iterdir())
    return {
        "articles": len(articles),
        "passages": len(loaded.passages),
        "index_type": loaded.manifest.index_type,
        "build_s": round(time.perf_counter() - started, 1),
        "file_mib": {k: round(v / 2**20, 1) for k, v in sorted(sizes.items())},
    }


def memory(pid: int) -> dict[str, int]:
    """RSS, PSS and private (unshared) bytes of one process."""
    figures = {}
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                figures[name] = int(rest.split()[0]) * 1024
    return {
        "rss": figures["Rss"],
        "pss": figures["Pss"],
        "private": figures["Private_Clean"] + figures["Private_Dirty"],
    }


def server_processes(pid: int) -> list[int]:
    """The server and every process under it (gunicorn's master and workers, their helpers)."""
    found, todo = [pid], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            children = (task / "children").read_text().split()
            found += [int(c) for c in children]
            todo += [int(c) for c in children]
    return found


def measure(index_dir: Path, workers: int, questions: int) -> dict:
    import subprocess

    port = free_port()
    log = RESULTS / f"memory-server-{workers}.log.tmp"
    command = [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--index-dir", str(index_dir), "--workers", str(workers)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        healthy = 0
        while healthy < workers and time.monotonic() < deadline:  # every worker up
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/api/health")
                healthy = healthy + 1 if connection.getresponse().status == 200 else 0
                connection.close()
            except OSError:
                time.sleep(0.5)
        if healthy < workers:
            raise SystemExit(f"the server did not become healthy:\n{log.read_text()}")
        time.sleep(2 * workers)  # the last workers finish loading
        answered = 0
        for i in range(questions):  # a new connection each time: spread over the workers
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            body = json.dumps({"question": f"What IVIg dose is used? ({i})"})
            connection.request("POST", "/api/ask", body, {"content-type": "application/json"})
            answered += connection.getresponse().status == 200
            connection.close()
        processes = {pid: memory(pid) for pid in server_processes(process.pid)}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.unlink(missing_ok=True)
    total = {k: sum(p[k] for p in processes.values()) for k in ("rss", "pss", "private")}
    return {
        "workers": workers,
        "processes": len(processes),
        "answered": answered,
        "mib": {k: round(v / 2**20, 1) for k, v in total.items()},
        "per_process_pss_mib": [round(p["pss"] / 2**20, 1) for p in processes.values()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--index-type", default="auto")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = parser.parse_args()

    index_dir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        made = build(index_dir, args.passages, args.index_type)
        print(f"built {made}")
        runs = []
        for workers in [int(w) for w in args.workers.split(",")]:
            run = measure(index_dir, workers, args.questions)
            runs.append(run)
            print(f"{workers} worker(s): {run}")
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)
    base = runs[0]["mib"]
    ratios = {
        f"{r['workers']}_over_{runs[0]['workers']}": {
            k: round(r["mib"][k] / base[k], 2) for k in ("rss", "pss")
        }
        for r in runs[1:]
    }
    print(f"ratios: {ratios} (target: PSS under {TARGET} x)")
    write(
        args.out,
        {
            "benchmark": "server memory by worker count over a large library",
            "library": made,
            "runs": runs,
            "ratios": ratios,
            "target": TARGET,
            "cpus": os.cpu_count(),
        },
    )


if __name__ == "__main__":
    main()
