"""One client's answer against the raw floor: how far `POST /api/ask` is from the model alone.

The raw floor is the least any answer can cost with this model: the project's own ONNX export
run directly by onnxruntime with default session settings (its own threads, spinning on), the
fast tokenizer with no padding, then an exact FAISS search of the served vectors. For each
distinct question (the gold questions and each in lower case, asked without history so that
both embed the same one text), in turn: the raw floor in this process, then `POST /api/ask`
against a real `mmn-assistant serve` on 127.0.0.1 over one kept-alive connection. Interleaving
keeps a drift of the machine's speed from skewing the ratio.

Each `--config` is one server started with those `MMN_*` settings, so spinning, threads and
batching are compared in one run:

    .venv/bin/python bench/floor.py [--config default] [--config MMN_ONNX_SPIN=true] ...

Writes bench/results/floor.json and prints p50, p95 and the ratio for each configuration.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, figures, serve, write  # noqa: E402
from bench.latency import questions  # noqa: E402

TARGET = 1.3
"""Issue 16: `POST /api/ask` p50 at most 1.3 x the raw floor's p50."""


class RawFloor:
    """The export, onnxruntime's defaults, the fast tokenizer and an exact search: nothing else."""

    def __init__(self, index_dir: Path) -> None:
        import faiss
        import onnxruntime
        from tokenizers import Tokenizer

        from assistant.embed.embedding import verify_model
        from assistant.embed.onnxmodel import INPUTS, max_tokens
        from assistant.store.directory import VERSIONS, published_version

        model_dir, digest, _ = verify_model()
        export = Path(os.environ["MMN_MODEL_EXPORT_DIR"]) / digest[:16] / "model.onnx"
        self.session = onnxruntime.InferenceSession(str(export), providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens(model_dir))
        self.tokenizer.no_padding()
        self.inputs = INPUTS
        version = published_version(index_dir)
        stored = faiss.read_index(str(index_dir / VERSIONS / str(version) / "vectors.faiss"))
        self.search_index = faiss.IndexFlatIP(stored.d)
        self.search_index.add(stored.reconstruct_n(0, stored.ntotal))

    def answer(self, text: str) -> None:
        encoding = self.tokenizer.encode(text)
        feeds = {
            "input_ids": np.array([encoding.ids], dtype=np.int64),
            "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
        }
        vector = self.session.run(None, feeds)[0]
        self.search_index.search(vector, 5)


SETTLE = 0.01
"""Seconds between the floor and the answer: onnxruntime's threads spin on after a run by
default, and spinning here would take a core from the server's answer."""


def parse_config(text: str) -> dict[str, str]:
    if text == "default":
        return {}
    pairs = [part.split("=", 1) for part in text.split(",")]
    if any(len(p) != 2 or not p[0].startswith("MMN_") for p in pairs):
        raise SystemExit(f"--config {text!r}: give `default` or MMN_NAME=value[,MMN_NAME=value]")
    return dict(pairs)


def post(connection: http.client.HTTPConnection, text: str) -> None:
    body = json.dumps({"question": text})
    connection.request("POST", "/api/ask", body, {"content-type": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, (response.status, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=ROOT / "index")
    parser.add_argument("--config", action="append", help="MMN_* settings of one server")
    parser.add_argument("--out", type=Path, default=RESULTS / "floor.json")
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    args = parser.parse_args()

    asked = list(dict.fromkeys(q for q, _ in questions()))
    if args.limit:
        asked = asked[: args.limit]
    floor = RawFloor(args.index_dir)
    for text in asked[:30]:
        floor.answer(text)
    results = []
    for config in args.config or ["default"]:
        settings = parse_config(config)
        log = RESULTS / "floor-server.log.tmp"
        process, port = serve(args.index_dir, log, env={**os.environ, **settings})
        raw, api = [], []
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for text in asked[:30]:  # warm the server
                post(connection, text)
            for text in asked:
                started = time.perf_counter()
                floor.answer(text)
                raw.append((time.perf_counter() - started) * 1000)
                time.sleep(SETTLE)
                started = time.perf_counter()
                post(connection, text)
                api.append((time.perf_counter() - started) * 1000)
        finally:
            process.terminate()
            process.wait(timeout=15)
            log.unlink(missing_ok=True)
        row = {
            "config": config,
            "raw floor": figures(raw),
            "POST /api/ask": figures(api),
            "ratio_p50": round(figures(api)["p50_ms"] / figures(raw)["p50_ms"], 3),
        }
        results.append(row)
        print(
            f"{config:40} raw floor p50 {row['raw floor']['p50_ms']:6.2f} ms  "
            f"api p50 {row['POST /api/ask']['p50_ms']:6.2f} ms (p95 "
            f"{row['POST /api/ask']['p95_ms']:.2f})  ratio {row['ratio_p50']} (target {TARGET})"
        )
    write(
        args.out,
        {
            "benchmark": "one client's POST /api/ask against the raw onnxruntime floor",
            "questions": len(asked),
            "query_cache": "off",
            "target_ratio_p50": TARGET,
            "configs": results,
        },
    )


if __name__ == "__main__":
    main()
