"""Start-up and build costs: from `serve` to the first healthy /api/health, beside the time to
import the libraries and load the model alone; and `build` of the corpus, cold and incremental.

Each figure is a fresh process (what an operator waits for), repeated a few times:
- baseline: `python -c` that imports sentence-transformers, FAISS, bm25s and FastAPI and loads
  the model (the work no server can skip);
- serve: `mmn-assistant serve` on 127.0.0.1 until /api/health answers 200;
- build, cold: `mmn-assistant build` into an empty index directory;
- build, incremental: the same again with nothing changed (every vector from the cache);
- first build on a machine: a cold build that also exports the model to ONNX (once per model).

    .venv/bin/python bench/startup.py [--repeat 3]

Once healthy, each server is asked two questions, timed one by one: what the first clinician
after a start waits for (a server warms itself before it reports healthy), then the next.

Writes bench/results/startup.json. Target (issue 6): start to healthy under 2 × the baseline.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, free_port, write  # noqa: E402

BASELINE = """
import faiss, bm25s, fastapi, uvicorn
from assistant.embed.embedding import SentenceTransformerEmbedder
from assistant.settings import current
SentenceTransformerEmbedder.configured(current()).embed(["warm"])
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


FIRST_QUESTIONS = ["Is weaknes in the hands typical?", "Which nerves are affectd first?"]
"""Asked once the server is healthy, timed one by one: the first with a slip of the keyboard, so
that it reads the word frequencies too (the second shows an answer once all is loaded)."""


def first_answers(port: int) -> list[float]:
    """Milliseconds for each of `FIRST_QUESTIONS`, the first questions the server is asked."""
    times = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for question in FIRST_QUESTIONS:
        body = json.dumps({"question": question})
        started = time.perf_counter()
        connection.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.status
    return times


def time_to_healthy(index_dir: Path, answers: list[list[float]] | None = None) -> float:
    """Seconds from `serve` to a healthy /api/health; then, into `answers` when given, the
    first questions' times (`first_answers`)."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--index-dir", str(index_dir)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/api/health")
                if connection.getresponse().status == 200:
                    healthy = time.perf_counter() - started
                    if answers is not None:
                        answers.append(first_answers(port))
                    return healthy
            except OSError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 120:
                raise SystemExit("the server did not become healthy")
            time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "startup.json")
    args = parser.parse_args()

    # Once per machine and model: the ONNX export the first build makes (PyTorch loads for it).
    index_dir = Path(tempfile.mkdtemp(prefix="bench-startup-")) / "index"
    fresh = dict(os.environ, MMN_MODEL_EXPORT_DIR=str(index_dir.parent / "models"))
    first = timed(
        [sys.executable, "-m", "assistant", "build", "--index-dir", str(index_dir)], fresh
    )

    baseline, healthy, cold, incremental = [], [], [], []
    answers: list[list[float]] = []
    for _ in range(args.repeat):
        index_dir = Path(tempfile.mkdtemp(prefix="bench-startup-")) / "index"
        build = [sys.executable, "-m", "assistant", "build", "--index-dir", str(index_dir)]
        cold.append(timed(build))
        incremental.append(timed(build))
        baseline.append(timed([sys.executable, "-c", BASELINE]))
        healthy.append(time_to_healthy(index_dir, answers))

    def row(values: list[float]) -> dict[str, float]:
        return {
            "median_s": round(statistics.median(values), 3),
            "runs_s": [round(v, 3) for v in values],
        }

    result = {
        "benchmark": "start-up and build",
        "baseline_imports_and_model": row(baseline),
        "serve_to_healthy": row(healthy),
        "build_cold": row(cold),
        "build_incremental_unchanged": row(incremental),
        "first_build_with_onnx_export": row([first]),
    }
    result["first_answers_ms"] = {
        "questions": FIRST_QUESTIONS,
        "median_ms": [round(statistics.median(a[i] for a in answers), 1) for i in (0, 1)],
        "runs_ms": [[round(t, 1) for t in a] for a in answers],
    }
    ratio = statistics.median(healthy) / statistics.median(baseline)
    result["healthy_over_baseline"] = round(ratio, 3)
    result["target"] = "serve to healthy under 2 x the baseline"
    write(args.out, result)
    for name in ("baseline_imports_and_model", "serve_to_healthy", "build_cold",
                 "build_incremental_unchanged", "first_build_with_onnx_export"):  # fmt: skip
        print(f"{name:30} median {result[name]['median_s']:.2f} s  runs {result[name]['runs_s']}")
    print(f"serve to healthy = {ratio:.2f} x the baseline (target under 2)")
    first, second = result["first_answers_ms"]["median_ms"]
    print(f"once healthy: the first answer {first:.1f} ms, the second {second:.1f} ms")


if __name__ == "__main__":
    main()
