"""Serving under load: throughput and tail latency at 1, 4, 16 and 64 concurrent clients.

A real `mmn-assistant serve` on 127.0.0.1; the clients are one asyncio process of raw
HTTP/1.1 keep-alive connections (light enough that the server, not the load generator, is what
is measured on two cores). Each client sends `POST /api/ask` with the next of several hundred
distinct gold questions (with their histories, and each in lower case) in its own shuffled
order, reads the whole answer, and sends the next at once (a closed loop, no think time).
An answer counts as an error unless it is a 200 with passages and the disclaimer.

Modes, each its own server process:
- `distinct`: the query-vector cache off (MMN_QUERY_CACHE=0), as if no question were ever
  asked twice: every answer embeds its question; closed loop, the server saturated;
- `cached`: the server as shipped, where a repeated question skips the model; closed loop;
- `reading`: cache off, and each client waits a random time (exponential, mean `--think`
  seconds, 2 by default) between an answer and its next question, as a clinician reads.

In a closed loop with no pause, N clients on two cores queue behind each other: by Little's
law the p50 grows with N once the cores are busy, whatever the server does; `reading` shows
latency when clients behave like people.

    .venv/bin/python bench/load.py [--clients 1,4,16,64] [--duration 60] [--think 2]
                                   [--modes distinct,cached,reading]
    .venv/bin/python bench/load.py --soak   # issue 7: 16 clients, cache off, 10 minutes, by minute
    .venv/bin/python bench/load.py --modes distinct --clients 128 --max-in-flight 32 \
        [--retry-after]                     # issue 16: shedding load; --retry-after: clients
                                            # wait as a 503 asks instead of retrying at once

Writes bench/results/load.json (or soak.json) and load.png; the server's resident memory is
read from /proc before and after each level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, figures, serve, write  # noqa: E402
from bench.latency import questions  # noqa: E402

IDLE_RECONNECT_S = 4.0
TARGET_P50_MULTIPLE = 2.0
"""Issue 6: up to 16 clients, p50 within 2x of the single-client p50, zero errors."""


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def start(
    index_dir: Path | None, log: Path, cache: bool, workers: int = 1, max_in_flight: int = 64
) -> tuple[subprocess.Popen, int]:
    """The server, with the query-vector cache on (as shipped) or off, with `workers`
    processes, each shedding load past `max_in_flight` requests."""
    env = dict(
        os.environ,
        MMN_QUERY_CACHE="2048" if cache else "0",
        MMN_WORKERS=str(workers),
        MMN_MAX_IN_FLIGHT=str(max_in_flight),
    )
    return serve(index_dir, log, env=env)


def requests_for(asked: list[tuple[str, tuple[str, ...]]], port: int) -> list[bytes]:
    out = []
    for question, history in asked:
        body = json.dumps({"question": question, "history": list(history)}).encode()
        head = (f"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
        out.append(head.encode() + body)
    return out


async def client(
    port: int,
    payloads: list[bytes],
    seed: int,
    stop_at: float,
    record: list,
    errors: list,
    think: float = 0.0,
    retry_after: bool = False,
) -> None:
    order = list(range(len(payloads)))
    chance = random.Random(seed)
    chance.shuffle(order)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    last_used = time.monotonic()
    closing = False
    try:
        while time.monotonic() < stop_at:
            payload = payloads[order[i % len(order)]]
            i += 1
            if closing or time.monotonic() - last_used > IDLE_RECONNECT_S:
                # The server closes a connection idle for 5 s (uvicorn's keep-alive), or one
                # whose answer said `Connection: close` (a worker sheds it to another): like a
                # browser, open a new one rather than fail.
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.perf_counter()
            try:
                writer.write(payload)
                await writer.drain()
                status_line = await reader.readline()
                length, wait, closing = 0, 0.0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    elif line.lower().startswith(b"retry-after:"):
                        wait = float(line.split(b":")[1])
                    elif line.lower().replace(b" ", b"") == b"connection:close\r\n":
                        closing = True
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors.append(f"connection: {exc!r}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            ok = status_line.split()[1:2] == [b"200"] and b'"disclaimer"' in body
            if not ok:
                errors.append(status_line.decode(errors="replace").strip())
            record.append((time.monotonic(), elapsed, ok))
            last_used = time.monotonic()
            if retry_after and wait:  # a polite client comes back when the server says
                await asyncio.sleep(min(wait, max(0.0, stop_at - time.monotonic())))
                last_used = time.monotonic()
            elif think:  # a person reading the answer before the next question
                await asyncio.sleep(chance.expovariate(1 / think))
    finally:
        writer.close()


async def run_level(
    port: int,
    payloads: list[bytes],
    clients: int,
    seconds: float,
    think: float = 0.0,
    retry_after: bool = False,
):
    record: list[tuple[float, float, bool]] = []
    errors: list[str] = []
    stop_at = time.monotonic() + seconds
    await asyncio.gather(
        *(
            client(port, payloads, seed, stop_at, record, errors, think, retry_after)
            for seed in range(clients)
        )
    )
    return record, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,16,64")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--modes", default="distinct,cached,reading")
    parser.add_argument("--think", type=float, default=2.0, help="mean pause in reading mode, s")
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--soak", action="store_true", help="16 clients, figures by minute")
    parser.add_argument("--minutes", type=int, default=10, help="how long the soak runs")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workers", type=int, default=1, help="serve --workers")
    parser.add_argument("--max-in-flight", type=int, default=64, help="serve --max-in-flight")
    parser.add_argument(
        "--retry-after",
        action="store_true",
        help="clients wait as a 503's Retry-After asks (by default they retry at once)",
    )
    args = parser.parse_args()
    if args.soak:
        return soak(args)
    levels = [int(c) for c in args.clients.split(",")]
    modes = args.modes.split(",")
    asked = questions()
    rows: list[dict[str, Any]] = []
    for mode in modes:
        process, port = start(
            args.index_dir,
            RESULTS / f"load-{mode}.log.tmp",
            mode == "cached",
            args.workers,
            args.max_in_flight,
        )
        think = args.think if mode == "reading" else 0.0
        try:
            payloads = requests_for(asked, port)
            asyncio.run(run_level(port, payloads, 4, 5.0))  # warm-up
            for clients in levels:
                before = rss_bytes(process.pid)
                record, errors = asyncio.run(
                    run_level(port, payloads, clients, args.duration, think, args.retry_after)
                )
                after = rss_bytes(process.pid)
                latencies = [ms for _, ms, ok in record if ok]
                row = {
                    "mode": mode,
                    "workers": args.workers,
                    "max_in_flight": args.max_in_flight,
                    "slowest_ms": round(max(ms for _, ms, _ in record), 1),
                    "statuses": {
                        s: sum(e.split()[1:2] == [s] for e in errors)
                        for s in sorted({e.split()[1] for e in errors if len(e.split()) > 1})
                    },
                    "clients": clients,
                    "seconds": args.duration,
                    "think_s": think,
                    "answers": len(latencies),
                    "throughput_rps": round(len(latencies) / args.duration, 1),
                    "latency": figures(latencies),
                    "errors": len(errors),
                    "error_examples": sorted(set(errors))[:5],
                    "server_rss_before_mib": round(before / 2**20, 1),
                    "server_rss_after_mib": round(after / 2**20, 1),
                }
                rows.append(row)
                print(f"{mode:9} {clients:>3} clients: {row['throughput_rps']:>7.1f} answers/s  "
                      f"p50 {row['latency']['p50_ms']:>7.1f}  p95 {row['latency']['p95_ms']:>7.1f}  "
                      f"p99 {row['latency']['p99_ms']:>7.1f} ms  errors {row['errors']}  "
                      f"server RSS {row['server_rss_before_mib']} -> {row['server_rss_after_mib']} MiB",
                      flush=True)  # fmt: skip
        finally:
            process.terminate()
            process.wait(timeout=30)
    for mode in modes:
        mine = {r["clients"]: r for r in rows if r["mode"] == mode}
        if 1 in mine:
            single = mine[1]["latency"]["p50_ms"]
            for row in mine.values():
                row["p50_vs_single_client"] = round(row["latency"]["p50_ms"] / single, 2)
    out = args.out or RESULTS / "load.json"
    write(
        out,
        {
            "benchmark": "closed-loop load on POST /api/ask against a real server",
            "questions": len(asked),
            "modes": modes,
            "target": f"p50 within {TARGET_P50_MULTIPLE}x of one client up to 16 clients, 0 errors",
            "rows": rows,
        },
    )
    from bench.charts import draw_load

    print(f"wrote {draw_load(out)}")


def soak(args: argparse.Namespace) -> None:
    """Issue 7's soak: 16 clients for 10 minutes of mixed questions, figures for each minute."""
    clients, minutes = 16, args.minutes
    asked = questions()
    # Cache off: every one of the ~400 questions, asked again and again, runs the whole model.
    process, port = start(args.index_dir, RESULTS / "soak.log.tmp", cache=False)
    windows: list[dict[str, Any]] = []
    try:
        payloads = requests_for(asked, port)
        asyncio.run(run_level(port, payloads, 4, 5.0))  # warm-up
        start_rss = rss_bytes(process.pid)
        for minute in range(1, minutes + 1):
            record, errors = asyncio.run(run_level(port, payloads, clients, 60.0))
            latencies = [ms for _, ms, _ in record]
            window = {
                "minute": minute,
                "answers": len(record),
                "latency": figures(latencies),
                "errors": len(errors),
                "server_rss_mib": round(rss_bytes(process.pid) / 2**20, 1),
            }
            windows.append(window)
            print(f"minute {minute:>2}: {len(record) / 60:.1f} answers/s  p50 "
                  f"{window['latency']['p50_ms']:.1f}  p99 {window['latency']['p99_ms']:.1f} ms  "
                  f"errors {window['errors']}  RSS {window['server_rss_mib']} MiB", flush=True)  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=30)
    growth = windows[-1]["server_rss_mib"] / (start_rss / 2**20) - 1
    result = {
        "benchmark": "soak: 16 closed-loop clients on POST /api/ask, cache off, figures by minute",
        "clients": clients,
        "minutes": minutes,
        "errors": sum(w["errors"] for w in windows),
        "server_rss_start_mib": round(start_rss / 2**20, 1),
        "server_rss_end_mib": windows[-1]["server_rss_mib"],
        "memory_growth": round(growth, 4),
        "p99_first_minute_ms": windows[0]["latency"]["p99_ms"],
        "p99_last_minute_ms": windows[-1]["latency"]["p99_ms"],
        "targets": "zero errors, p99 stable first to last minute, memory growth under 10%",
        "windows": windows,
    }
    write(args.out or RESULTS / "soak.json", result)


if __name__ == "__main__":
    main()
