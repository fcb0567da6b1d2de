"""Two versions of the code against each other: one client, one index, interleaved with the floor.

A change of a tenth of a millisecond is below what two runs of `floor.py` minutes apart can
tell (the machine's speed drifts by a third). Here both servers run at once, each from its own
source tree (a `git worktree` of the commit to compare), on the same index: for each question,
the raw floor, then each server in turn (the order alternates), so that both see the same
machine. Questions get a round number appended, so that no cache answers them.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/ab.py --before /tmp/before [--index-dir DIR] [--seconds 40]

Writes bench/results/ab.json (or --out): p50 and p99 of each server and their ratio to the
floor. The trees share this checkout's .venv and model export.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, figures, free_port, write  # noqa: E402
from bench.floor import Connection, RawFloor  # noqa: E402
from bench.latency import questions  # noqa: E402
from bench.load import requests_for  # noqa: E402


def start(tree: Path, index_dir: Path, log: Path, env: dict[str, str]):
    """`serve` from `tree`'s sources (its own `assistant` and `web` packages) on a free port."""
    import http.client

    port = free_port()
    command = [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--index-dir", str(index_dir)]  # fmt: skip
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/health")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit(f"{tree}: the server did not become healthy:\n{log.read_text()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="source tree to compare")
    parser.add_argument("--after", type=Path, default=ROOT, help="default: this checkout")
    parser.add_argument("--index-dir", type=Path, default=ROOT / "index")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "ab.json")
    args = parser.parse_args()

    env = {**os.environ, "MMN_QUERY_CACHE": "0"}
    env.setdefault("MMN_MODEL_EXPORT_DIR", str(ROOT / "index" / "models"))
    asked = list(dict.fromkeys(q for q, _ in questions()))
    floor = RawFloor(args.index_dir)
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    servers = {}
    try:
        for name, tree in trees.items():
            log = RESULTS / f"ab-{name}.log.tmp"
            servers[name] = (*start(tree, args.index_dir, log, env), log)
        connections = {name: Connection(port) for name, (_, port, _) in servers.items()}
        for name, (_, port, _) in servers.items():
            for payload in requests_for([(f"{q} (warming up)", ()) for q in asked[:30]], port):
                connections[name].post(payload)
        raw: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in servers}
        started, round_ = time.monotonic(), 0
        while time.monotonic() - started < args.seconds:
            payloads = {
                name: requests_for([(f"{q} {round_}", ()) for q in asked], port)
                for name, (_, port, _) in servers.items()
            }
            round_ += 1
            for i, question in enumerate(asked):
                clock = time.perf_counter()
                floor.answer(question)
                raw.append((time.perf_counter() - clock) * 1000)
                order = list(servers) if i % 2 else list(reversed(servers))
                for name in order:
                    clock = time.perf_counter()
                    connections[name].post(payloads[name][i])
                    times[name].append((time.perf_counter() - clock) * 1000)
                if time.monotonic() - started > args.seconds:
                    break
    finally:
        for process, _, log in servers.values():
            process.terminate()
            process.wait(timeout=15)
            log.unlink(missing_ok=True)
    floor_ms = figures(raw)
    result = {"benchmark": "two source trees, one client, interleaved with the raw floor",
              "index_dir": str(args.index_dir), "answers_each": len(raw),
              "raw floor": floor_ms}  # fmt: skip
    print(f"{len(raw)} questions; raw floor p50 {floor_ms['p50_ms']:.3f} ms")
    for name, tree in trees.items():
        ms = figures(times[name])
        ratio = round(ms["p50_ms"] / floor_ms["p50_ms"], 3)
        ratio_p99 = round(ms["p99_ms"] / floor_ms["p99_ms"], 3)
        result[name] = {"tree": str(tree), **ms, "ratio_p50": ratio, "ratio_p99": ratio_p99}
        print(f"{name:6} p50 {ms['p50_ms']:.3f} ms ({ratio} x), p99 {ms['p99_ms']:.3f} ms "
              f"({ratio_p99} x)  {tree}")  # fmt: skip
    write(args.out, result)


if __name__ == "__main__":
    main()
