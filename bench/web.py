"""What the HTML page adds to an answer: GET /ask against POST /api/ask, in process.

Both routes make the same core call (`Engine.ask`); the difference is the page's work: the
context object, the matched-word emphasis and the Jinja templates. Every dev gold question
(with its history) is asked both ways, warm, several times, alternating which goes first.

    .venv/bin/python bench/web.py [--index-dir DIR] [--repeat 3]

Writes bench/results/web.json. Without --index-dir it builds the corpus into a temporary
directory first.
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

from fastapi.testclient import TestClient  # noqa: E402

from assistant.evaluation import load_gold  # noqa: E402
from bench.common import open_engine, percentile  # noqa: E402
from web import views  # noqa: E402
from web.app import create_app  # noqa: E402
from web.pages import templates  # noqa: E402
from web.views import ask_url  # noqa: E402


def figures(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 3),
        "p95_ms": round(percentile(values, 0.95), 3),
        "mean_ms": round(statistics.fmean(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gold", type=Path, default=ROOT / "tests/gold/dev.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "web.json")
    args = parser.parse_args()

    engine, _ = open_engine(args.index_dir)
    items = load_gold(args.gold)

    def html(client: TestClient, question: str, history: list[str]) -> float:
        started = time.perf_counter()
        response = client.get(ask_url(question, history))
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:200]
        return elapsed * 1000

    def api(client: TestClient, question: str, history: list[str]) -> float:
        started = time.perf_counter()
        response = client.post("/api/ask", json={"question": question, "history": history})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:200]
        return elapsed * 1000

    def render(question: str, history: list[str]) -> float:
        """The page's own work on a ready answer: context object, emphasis, templates."""
        answer = engine.ask(question, history)
        started = time.perf_counter()
        page = views.answer_page(answer, views.site_of(engine.index))
        templates.get_template("answer.html").render(page=page)
        return (time.perf_counter() - started) * 1000

    timings: dict[str, list[float]] = {"html": [], "json": [], "added": [], "render": []}
    with TestClient(create_app(engine=engine), base_url="http://localhost") as client:
        for item in items[:20]:  # warm up the model, the caches and the templates
            html(client, item.question, list(item.history))
            api(client, item.question, list(item.history))
        for run in range(args.repeat):
            for n, item in enumerate(items):
                history = list(item.history)
                if (run + n) % 2:
                    page, body = (
                        html(client, item.question, history),
                        api(client, item.question, history),
                    )
                else:
                    body, page = (
                        api(client, item.question, history),
                        html(client, item.question, history),
                    )
                timings["html"].append(page)
                timings["json"].append(body)
                timings["added"].append(page - body)
                timings["render"].append(render(item.question, history))

    result = {
        "benchmark": "web page against JSON API",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "how": "in-process TestClient, warm; same question and history both ways, order alternated",
        "gold": str(args.gold.relative_to(ROOT))
        if args.gold.is_relative_to(ROOT)
        else str(args.gold),
        "questions": len(items),
        "repeat": args.repeat,
        "GET /ask (HTML)": figures(timings["html"]),
        "POST /api/ask (JSON)": figures(timings["json"]),
        "added by the page (HTML - JSON, per question)": figures(timings["added"]),
        "page rendering alone (context + templates)": figures(timings["render"]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(items)} questions x {args.repeat}, warm, in-process TestClient")
    print(f"{'request':<36} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, label in (
        ("GET /ask (HTML)", "GET /ask (HTML)"),
        ("POST /api/ask (JSON)", "POST /api/ask (JSON)"),
        ("added by the page (HTML - JSON, per question)", "added by the page (per question)"),
        ("page rendering alone (context + templates)", "page rendering alone"),
    ):
        row = result[name]
        print(f"{label:<36} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['mean_ms']:>8.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
