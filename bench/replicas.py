"""Two replicas behind nginx: requests lost when one dies, and how fast a rebuild reaches both.

Two `mmn-assistant serve` processes on 127.0.0.1 read one published index directory; Debian's
nginx (`apt-get install nginx-light`) runs deploy/nginx.conf in front of them, with its ports
rewritten to free ones. For `--duration` seconds (60), `--clients` threads (16) each send
`POST /api/ask` through nginx in a closed loop. At `--kill-at` (20 s) one replica is killed with
SIGKILL; at `--restart-at` (40 s) it is started again. At `--rebuild-at` (1 s) `mmn-assistant
build` publishes a new version of the index (the corpus unchanged: a real build that reuses
the cached vectors and training), and each replica's `/api/health` is polled every 50 ms to see
when it serves that version. The killed replica, down at that moment, is counted from its
restart.

    .venv/bin/python bench/replicas.py [--duration 60] [--clients 16] [--index-dir DIR]

Prints the figures and writes bench/results/replicas.json. Targets (issue 16): at most 0.1% of
requests lost to the killed replica; the new version served by every live replica within 3 s
of its publication.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, figures, free_port, serve, write  # noqa: E402
from bench.latency import questions  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LOST_TARGET = 0.001
PUBLISH_TARGET_S = 3.0


def nginx_config(listen: int, replicas: list[int], scratch: Path) -> Path:
    """deploy/nginx.conf with its ports and scratch paths made this run's own."""
    text = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    text = text.replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{listen};")
    servers = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=2 fail_timeout=5s;" for port in replicas
    )
    text = re.sub(
        r"(?m)^        server 127\.0\.0\.1:800[12] .*\n(?:        server .*\n)?",
        servers + "\n",
        text,
    )
    text = text.replace("/tmp/mmn-nginx", str(scratch / "nginx"))
    path = scratch / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def published(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def health_version(port: int) -> str | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/api/health")
        response = connection.getresponse()
        if response.status != 200:
            return None
        return str(json.loads(response.read())["index"]["version"])
    except (OSError, ValueError, KeyError):
        return None


class Load:
    """Closed-loop clients through nginx; every outcome is kept with its time."""

    def __init__(self, port: int, clients: int, asked: list[tuple[str, tuple[str, ...]]]) -> None:
        self.port, self.clients, self.asked = port, clients, asked
        self.outcomes: list[tuple[float, int, float]] = []  # (seconds since start, status, ms)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.started = time.monotonic()

    def client(self, number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        i = number
        while not self.stop.is_set():
            question, history = self.asked[i % len(self.asked)]
            i += self.clients
            body = json.dumps({"question": question, "history": list(history)})
            sent = time.monotonic()
            try:
                connection.request("POST", "/api/ask", body, {"content-type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0  # the connection failed: lost
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            done = time.monotonic()
            with self.lock:
                self.outcomes.append((sent - self.started, status, (done - sent) * 1000))

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.client, args=(n,)) for n in range(self.clients)]
        for thread in threads:
            thread.start()
        return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--kill-at", type=float, default=20)
    parser.add_argument("--restart-at", type=float, default=40)
    parser.add_argument("--rebuild-at", type=float, default=1)
    parser.add_argument("--index-dir", type=Path, help="an index to copy (default: index/)")
    parser.add_argument("--out", type=Path, default=RESULTS / "replicas.json")
    args = parser.parse_args()
    if not Path(NGINX).exists():
        raise SystemExit("nginx is not installed: apt-get install nginx-light")

    scratch = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    (scratch / "nginx").mkdir()
    index_dir = scratch / "index"
    shutil.copytree(
        args.index_dir or ROOT / "index", index_dir, ignore=shutil.ignore_patterns("models")
    )
    env = {**os.environ, "MMN_INDEX_DIR": str(index_dir), "MMN_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    ports = [free_port(), free_port()]
    replicas: list[Any] = []
    for n, _ in enumerate(ports):
        process, port = serve(index_dir, scratch / f"replica-{n}.log", env=env)
        replicas.append(process)
        ports[n] = port
    listen = free_port()
    config = nginx_config(listen, ports, scratch)
    nginx = subprocess.Popen(
        [NGINX, "-c", str(config), "-p", str(scratch / "nginx"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=(scratch / "nginx.log").open("w"),
    )  # fmt: skip
    time.sleep(1)

    load = Load(listen, args.clients, questions())
    threads = load.run()
    events: dict[str, float] = {}
    seen: dict[str, float | None] = {}
    killed, rebuilt = False, None
    new_version: str | None = None
    build: subprocess.Popen | None = None
    restart_log = scratch / "replica-0-restarted.log"
    while (now := time.monotonic() - load.started) < args.duration:
        if not killed and now >= args.kill_at:
            replicas[0].send_signal(signal.SIGKILL)
            replicas[0].wait()
            killed, events["killed"] = True, now
        if build is None and now >= args.rebuild_at:
            before = published(index_dir)
            build = subprocess.Popen(
                [sys.executable, "-m", "assistant", "build", "--index-dir", str(index_dir)],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            events["build_started"] = now
        if build is not None and rebuilt is None and published(index_dir) != before:
            rebuilt, new_version = now, published(index_dir)
            events["published"] = now
        if killed and "restart_started" not in events and now >= args.restart_at:
            events["restart_started"] = now
            replicas[0] = subprocess.Popen(
                [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1",
                 "--port", str(ports[0]), "--index-dir", str(index_dir)],
                cwd=ROOT, env=env, stdout=restart_log.open("w"), stderr=subprocess.STDOUT,
            )  # fmt: skip
        if "restart_started" in events and "restart_healthy" not in events:
            if health_version(ports[0]) is not None:
                events["restart_healthy"] = now
        if new_version is not None:
            for n, port in enumerate(ports):
                key = f"replica-{n}"
                if seen.get(key) is None and health_version(port) == new_version:
                    seen[key] = now
        time.sleep(0.05)
    load.stop.set()
    for thread in threads:
        thread.join()
    if build is not None:
        build.wait()
    nginx.send_signal(signal.SIGQUIT)
    nginx.wait()
    for process in replicas:
        process.terminate()
        process.wait()

    outcomes = load.outcomes
    failed = [o for o in outcomes if o[1] != 200]
    lost_share = len(failed) / max(1, len(outcomes))
    reached = {
        key: (None if at is None or rebuilt is None else round(at - rebuilt, 2))
        for key, at in {f"replica-{n}": seen.get(f"replica-{n}") for n in range(2)}.items()
    }
    delays = [d for d in reached.values() if d is not None]
    by_second: dict[int, list[int]] = {}
    for at, status, _ in outcomes:
        by_second.setdefault(int(at), []).append(status)
    result = {
        "duration_s": args.duration,
        "clients": args.clients,
        "requests": len(outcomes),
        "answers_per_s": round(len(outcomes) / args.duration, 1),
        "failed": len(failed),
        "failed_statuses": sorted({o[1] for o in failed}),
        "lost_share": round(lost_share, 5),
        "lost_target": LOST_TARGET,
        "latency": figures([o[2] for o in outcomes if o[1] == 200]),
        "events_s": {k: round(v, 2) for k, v in events.items()},
        "new_version": new_version,
        "published_to_served_s": reached,
        "publish_target_s": PUBLISH_TARGET_S,
        "failures_by_second": {
            s: sum(x != 200 for x in v)
            for s, v in sorted(by_second.items())
            if any(x != 200 for x in v)
        },
        "met": {
            "lost": lost_share <= LOST_TARGET,
            "publish": len(delays) == len(reached) and max(delays) <= PUBLISH_TARGET_S,
        },
    }
    print(json.dumps({k: v for k, v in result.items() if k != "failures_by_second"}, indent=1))
    write(args.out, result)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
