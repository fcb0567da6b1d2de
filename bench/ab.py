"""Two versions of the code against each other, on one index: one client beside the floor, or load.

A change of a tenth of a millisecond is below what two runs of `floor.py` minutes apart can
tell (the machine's speed drifts by a third). Here both servers run at once, each from its own
source tree (a `git worktree` of the commit to compare), on the same index: for each question,
the raw floor, then each server in turn (the order alternates), so that both see the same
machine. Questions get a round number appended, so that no cache answers them.

With `--clients N`, the two servers run `serve --workers` (`--workers`, 2) and take turns
under N closed-loop clients in rounds of `--round-seconds`, in the order before, after, after,
before (`--rounds` times): answers a second for each round and each server.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/ab.py --before /tmp/before [--index-dir DIR] [--seconds 40]
    .venv/bin/python bench/ab.py --before /tmp/before --clients 16 --before-export /tmp/export

Writes bench/results/ab.json (or --out): p50 and p99 of each server and their ratio to the
floor, or their answers a second. The trees share this checkout's .venv and model export,
unless `--before-export` gives the older tree one of its own (an export format that changed
between the two would otherwise be made again, over each other's, by both).
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

from bench.common import RESULTS, figures, serve, write  # noqa: E402
from bench.floor import Connection, RawFloor  # noqa: E402
from bench.latency import questions  # noqa: E402
from bench.load import requests_for, run_level  # noqa: E402


def under_load(servers: dict, asked: list[str], args) -> dict:
    """Answers a second of each server, its turns alternating (before, after, after, before)."""
    import asyncio

    payloads = {name: requests_for([(q, ()) for q in asked], port) for name, (_, port, _) in servers.items()}  # fmt: skip
    # warm-up under the same load, "before" last: the first measured turn is its, and an idle
    # server's first seconds ran slower (212.7 against 233-248 answers/s in the first run)
    for name in ("after", "before"):
        asyncio.run(run_level(servers[name][1], payloads[name], args.clients, 5.0))
    rates: dict[str, list[float]] = {name: [] for name in servers}
    errors = dict.fromkeys(servers, 0)
    for name in ["before", "after", "after", "before"] * args.rounds:
        answered, failed = asyncio.run(
            run_level(servers[name][1], payloads[name], args.clients, args.round_seconds)
        )
        rates[name].append(round(sum(ok for *_, ok in answered) / args.round_seconds, 1))
        errors[name] += len(failed)
        print(f"{name:6} {rates[name][-1]} answers/s", flush=True)
    means = {name: round(sum(r) / len(r), 1) for name, r in rates.items()}
    print(f"mean answers/s: before {means['before']}, after {means['after']}; errors {errors}")
    return {"clients": args.clients, "workers": args.workers, "answers_per_s": rates,
            "mean_answers_per_s": means, "errors": errors}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="source tree to compare")
    parser.add_argument("--after", type=Path, default=ROOT, help="default: this checkout")
    parser.add_argument("--index-dir", type=Path, default=ROOT / "index")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--clients", type=int, default=0, help="load instead of one client")
    parser.add_argument("--workers", type=int, default=2, help="serve --workers under load")
    parser.add_argument("--rounds", type=int, default=3, help="under load: blocks of 4 turns")
    parser.add_argument("--round-seconds", type=float, default=10.0)
    parser.add_argument("--before-export", type=Path, help="the older tree's own model export")
    parser.add_argument("--out", type=Path, default=RESULTS / "ab.json")
    args = parser.parse_args()
    args.index_dir = args.index_dir.resolve()  # each server runs in its own tree

    env = {**os.environ, "MMN_QUERY_CACHE": "0"}  # bench.common set the shared model export
    if args.clients:
        env["MMN_WORKERS"] = str(args.workers)
    envs = {"before": env, "after": env}
    if args.before_export:
        envs["before"] = {**env, "MMN_MODEL_EXPORT_DIR": str(args.before_export.resolve())}
    asked = list(dict.fromkeys(q for q, _ in questions()))
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    servers = {}
    try:
        for name, tree in trees.items():
            log = RESULTS / f"ab-{name}.log.tmp"
            servers[name] = (*serve(args.index_dir, log, env=envs[name], root=tree), log)
        if args.clients:
            result = {"benchmark": "two source trees under load, turns alternating",
                      "trees": {n: str(t) for n, t in trees.items()},
                      **under_load(servers, asked, args)}  # fmt: skip
            write(args.out, result)
            return
        floor = RawFloor(args.index_dir)
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
                floor.answer(f"{question} {round_ - 1}")  # what the servers are asked
                raw.append((time.perf_counter() - clock) * 1000)
                order = list(servers) if i % 2 else list(reversed(servers))
                for name in order:
                    clock = time.perf_counter()
                    connections[name].post(payloads[name][i])
                    times[name].append((time.perf_counter() - clock) * 1000)
                if time.monotonic() - started > args.seconds:
                    break
    finally:
        for process, _, _log in servers.values():
            process.terminate()
        for process, _, log in servers.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
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
