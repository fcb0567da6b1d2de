"""PNG charts of the benchmark results: each bench draws its own at the end of a run, and
`python bench/charts.py` draws every chart again from bench/results/*.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS  # noqa: E402


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no screen here
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, result_path: Path) -> Path:
    """The chart as a PNG beside its JSON results."""
    out = result_path.with_suffix(".png")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def draw_latency(result_path: Path = RESULTS / "latency.json") -> Path:
    """The distribution of each way of answering, beside the floor."""
    plt = _pyplot()
    result = json.loads(result_path.read_text())
    samples = result["samples_ms"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    top = max(max(v) for v in samples.values())
    bins = [i * top / 80 for i in range(81)]
    for name, values in samples.items():
        ax.hist(values, bins=bins, histtype="step", linewidth=1.6, label=name)
    ax.set_xlabel("milliseconds per question (warm)")
    ax.set_ylabel("questions")
    ax.set_title(f"Answer latency, {result['questions']} questions, model in {result['runtime']}")
    ax.legend(fontsize=8)
    return _save(plt, fig, result_path)


def draw_load(result_path: Path = RESULTS / "load.json") -> Path:
    """Throughput and latency against the number of concurrent clients."""
    plt = _pyplot()
    result = json.loads(result_path.read_text())
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for mode in result["modes"]:
        rows = [r for r in result["rows"] if r["mode"] == mode]
        clients = [r["clients"] for r in rows]
        (line,) = left.plot(clients, [r["throughput_rps"] for r in rows], marker="o", label=mode)
        colour = line.get_color()  # one colour per mode in both panels
        right.plot(clients, [r["latency"]["p50_ms"] for r in rows], marker="o", color=colour,
                   label=f"{mode} p50")  # fmt: skip
        right.plot(clients, [r["latency"]["p99_ms"] for r in rows], marker="x", linestyle="--",
                   color=colour, label=f"{mode} p99")  # fmt: skip
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.legend(fontsize=8)
    left.set_ylabel("answers per second")
    right.set_ylabel("milliseconds")
    right.set_yscale("log")
    left.set_title("Throughput")
    right.set_title("Latency")
    return _save(plt, fig, result_path)


def draw_scale(result_path: Path = RESULTS / "scale.json") -> Path:
    """Search time, recall and memory against library size, one line per index kind."""
    plt = _pyplot()
    result = json.loads(result_path.read_text())
    rows = [r for r in result["rows"] if "skipped" not in r]
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for kind in kinds:
        mine = [r for r in rows if r["kind"] == kind]
        sizes = [r["size"] for r in mine]
        axes[0].plot(sizes, [r["search"]["p50_ms"] for r in mine], marker="o", label=kind)
        axes[1].plot(sizes, [r["recall_at_10"] for r in mine], marker="o", label=kind)
        axes[2].plot(sizes, [r["memory_bytes"] / 2**20 for r in mine], marker="o", label=kind)
    axes[0].axhline(result["one_article"]["search"]["p50_ms"], color="grey", linestyle=":",
                    label="one article (flat)")  # fmt: skip
    axes[0].set_ylabel("search p50, ms")
    axes[0].set_yscale("log")
    axes[1].axhline(0.95, color="grey", linestyle=":", label="target 0.95")
    axes[1].set_ylabel("recall@10 against exact")
    axes[2].axhline(1024, color="grey", linestyle=":", label="1 GiB")
    axes[2].set_ylabel("index memory, MiB")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("passages")
        ax.legend(fontsize=7)
    fig.suptitle("FAISS index kinds by library size")
    return _save(plt, fig, result_path)


def main() -> None:
    for name, draw in (("latency", draw_latency), ("load", draw_load), ("scale", draw_scale)):
        path = RESULTS / f"{name}.json"
        if path.exists():
            try:
                print(f"wrote {draw(path)}")
            except KeyError as exc:  # results written before the chart's data was kept
                print(f"{path}: no {exc} in these results; run bench/{name}.py again")


if __name__ == "__main__":
    main()
