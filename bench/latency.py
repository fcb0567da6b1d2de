"""Warm answer latency beside the floor measured in the same run.

The floor is what no answer can beat with this model: one query embedding plus an exact FAISS
search. Against it: the whole answer in process (`Engine.ask`, question to ranked passages with
the disclaimer), and over HTTP against a real `mmn-assistant serve` on 127.0.0.1, both
`POST /api/ask` and `GET /ask` (the page). Each stage's share comes from the engine's own
timings (vocabulary, embedding, adapter, dense search, lexical, fusion) plus relevance labels
and assembly measured around them.

Questions: every gold question (dev and test parts, with their histories) and each in lower
case, several hundred distinct texts in all, asked once each after a warm-up.

The query-vector cache is off (MMN_QUERY_CACHE=0) here and in the server, so that every way of
answering embeds its question as a new question would be. The model runs in the runtime the
server uses (ONNX by default); the PyTorch floor is measured beside it in the same run, to show
what the ONNX runtime gains.

    .venv/bin/python bench/latency.py [--index-dir DIR]

Writes bench/results/latency.json and prints the table and the ratios to the floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, figures, open_engine, serve, write  # noqa: E402

TARGETS = {"api_p50": 1.5, "page_p50": 1.6, "p99": 3.0}
"""Issue 6's targets, as multiples of the floor."""


def questions() -> list[tuple[str, tuple[str, ...]]]:
    from assistant.evaluation import load_gold

    items = load_gold(ROOT / "tests/gold/dev.jsonl") + load_gold(ROOT / "tests/gold/test.jsonl")
    asked = [(i.question, i.history) for i in items]
    asked += [(q.lower(), h) for q, h in asked if q.lower() != q]
    return list(dict.fromkeys(asked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--out", type=Path, default=RESULTS / "latency.json")
    args = parser.parse_args()

    from assistant.answer import answer_to_dict, assemble
    from assistant.search.retrieval import relevant_flags

    os.environ["MMN_QUERY_CACHE"] = "0"  # read by every engine, here and in the server
    engine, index_dir = open_engine(args.index_dir)
    from assistant.embed.embedding import SentenceTransformerEmbedder

    model = engine.embedder.inner.inner  # the model itself, past the cache and the batcher
    torch_model = SentenceTransformerEmbedder(runtime="torch")
    torch_model.embed(["warm"])
    torch_floor: list[float] = []
    asked = questions()
    for question, history in asked[:30]:  # warm-up
        engine.ask(question, history)

    # PyTorch on its own pass: interleaved with ONNX in one process, the two thread pools take
    # the cores from each other and both figures would be wrong.
    for question, _ in asked:
        started = time.perf_counter()
        vector = torch_model.embed([question])
        engine.index.vectors.search(vector, 5)
        torch_floor.append((time.perf_counter() - started) * 1000)
    del torch_model

    # Every way of answering is measured for each question in turn, so that a drift of the
    # machine's speed during the run moves the floor and the answers together.
    process, port = serve(index_dir, RESULTS / "latency-server.log.tmp")
    floor, in_process, api, page = [], [], [], []
    stages: dict[str, list[float]] = {}
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for question, _ in asked[:30]:  # warm the server
            connection.request("GET", "/ask?" + urllib.parse.urlencode({"q": question}))
            connection.getresponse().read()
        for question, history in asked:
            started = time.perf_counter()
            vector = model.embed([question])
            engine.index.vectors.search(vector, 5)
            floor.append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            engine.ask(question, history)
            in_process.append((time.perf_counter() - started) * 1000)

            body = json.dumps({"question": question, "history": list(history)})
            started = time.perf_counter()
            connection.request("POST", "/api/ask", body, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            api.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, (response.status, question)

            query = urllib.parse.urlencode([("q", question), *(("history", h) for h in history)])
            started = time.perf_counter()
            connection.request("GET", "/ask?" + query)
            response = connection.getresponse()
            response.read()
            page.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, (response.status, question)

            timings: dict[str, float] = {}
            retrieval = engine.retrieve(question, history, 5, timings=timings)
            mark = time.perf_counter()
            relevant = relevant_flags(retrieval, engine.ranker.relevant_margin)
            timings["labels"] = time.perf_counter() - mark
            mark = time.perf_counter()
            answer_to_dict(
                assemble(question, tuple(history), retrieval.hits, engine.index,
                         answerable=not retrieval.declined, relevant=list(relevant))
            )  # fmt: skip
            timings["assembly"] = time.perf_counter() - mark
            for stage, seconds in timings.items():
                stages.setdefault(stage, []).append(seconds * 1000)
    finally:
        process.terminate()
        process.wait(timeout=15)

    rows = {
        "floor (embedding + exact FAISS search)": figures(floor),
        "PyTorch floor (for comparison)": figures(torch_floor),
        "in process (Engine.ask)": figures(in_process),
        "POST /api/ask (HTTP)": figures(api),
        "GET /ask (HTTP, HTML)": figures(page),
    }
    floor_p50 = rows["floor (embedding + exact FAISS search)"]["p50_ms"]
    floor_p99 = rows["floor (embedding + exact FAISS search)"]["p99_ms"]
    ratios = {
        "in_process_p50": round(rows["in process (Engine.ask)"]["p50_ms"] / floor_p50, 3),
        "api_p50": round(rows["POST /api/ask (HTTP)"]["p50_ms"] / floor_p50, 3),
        "page_p50": round(rows["GET /ask (HTTP, HTML)"]["p50_ms"] / floor_p50, 3),
        "api_p99": round(rows["POST /api/ask (HTTP)"]["p99_ms"] / floor_p99, 3),
        "page_p99": round(rows["GET /ask (HTTP, HTML)"]["p99_ms"] / floor_p99, 3),
        "api_p99_over_floor_p50": round(rows["POST /api/ask (HTTP)"]["p99_ms"] / floor_p50, 3),
        "page_p99_over_floor_p50": round(rows["GET /ask (HTTP, HTML)"]["p99_ms"] / floor_p50, 3),
    }
    share_total = sum(sum(v) for v in stages.values())
    shares = {stage: round(sum(v) / share_total, 4) for stage, v in stages.items()}
    write(
        args.out,
        {
            "benchmark": "warm answer latency against the floor",
            "questions": len(asked),
            "runtime": model.runtime,
            "query_cache": "off",
            "latency": rows,
            "ratios_to_floor": ratios,
            "targets": TARGETS,
            "stage_shares_in_process": shares,
            "samples_ms": {
                "floor": [round(v, 3) for v in floor],
                "PyTorch floor": [round(v, 3) for v in torch_floor],
                "in process": [round(v, 3) for v in in_process],
                "POST /api/ask": [round(v, 3) for v in api],
                "GET /ask": [round(v, 3) for v in page],
            },
        },
    )
    from bench.charts import draw_latency

    print(f"wrote {draw_latency(args.out)}")
    print(
        f"{len(asked)} distinct questions, warm, each asked once per way; model in {model.runtime}"
    )
    print(f"{'':42} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, row in rows.items():
        print(f"{name:42} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f}")
    print("ratios to the floor: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    print("in-process stage shares: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()))


if __name__ == "__main__":
    main()
