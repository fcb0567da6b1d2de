"""What every benchmark shares: percentiles, the machine it ran on, an index to run against."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# Every benchmark process and every server it starts shares one ONNX export of the model (made
# once, by the first of them), whatever index directory it uses.
os.environ.setdefault("MMN_MODEL_EXPORT_DIR", str(ROOT / "index" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Benchmarks measure a question asked for the first time unless they say otherwise (load.py's
# `cached` mode and the soak serve with the cache on).
os.environ.setdefault("MMN_QUERY_CACHE", "0")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(values: list[float], digits: int = 3) -> dict[str, float]:
    """p50, p95, p99 and mean of a list of milliseconds."""
    return {
        "p50_ms": round(statistics.median(values), digits),
        "p95_ms": round(percentile(values, 0.95), digits),
        "p99_ms": round(percentile(values, 0.99), digits),
        "mean_ms": round(statistics.fmean(values), digits),
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def open_engine(index_dir: Path | None):
    """The real model and an index: `index_dir`'s, or the corpus built into a temporary one."""
    from assistant.engine import Engine
    from assistant.settings import current

    settings = current()  # read now: a script may set MMN_* variables before it calls this
    embedder = model(settings)
    if index_dir is None:
        index_dir = build_temporary(embedder, settings)
    return Engine.open(index_dir, embedder, settings=settings), index_dir


def build_temporary(embedder, settings, training=None, prefix: str = "bench-index-") -> Path:
    """The corpus built into a temporary index directory (`training`: other TrainingSettings)."""
    from assistant.build import build_corpus

    index_dir = Path(tempfile.mkdtemp(prefix=prefix))
    build_corpus(ROOT / "corpus", embedder, index_dir, training=training, settings=settings)
    return index_dir


def build_and_open(corpus: Path, embedder, index_dir: Path):
    """A corpus built into `index_dir` and opened as served: (loaded, engine, seconds taken)."""
    from assistant.build import build_corpus
    from assistant.engine import Engine
    from assistant.settings import current

    started = time.perf_counter()
    loaded = build_corpus(corpus, embedder, index_dir)
    engine = Engine.open(index_dir, embedder, settings=current())
    return loaded, engine, round(time.perf_counter() - started, 1)


def model(settings=None):
    """The packaged model as the benchmark's `MMN_*` settings run it (its ONNX export shared)."""
    from assistant.embed.embedding import SentenceTransformerEmbedder
    from assistant.settings import current

    return SentenceTransformerEmbedder.configured(settings or current())


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(
    index_dir: Path | None,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    wait: float = 180,
    root: Path = ROOT,
):
    """A real `mmn-assistant serve` on a free loopback port; returns (process, port) once
    /api/health answers 200. Without `index_dir` it serves (building if need be) `index/`.
    `root`: the source tree it runs from (`bench/ab.py` compares two)."""
    import http.client
    import subprocess
    import sys

    port = free_port()
    command = [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    if index_dir is not None:
        command += ["--index-dir", str(index_dir)]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/health")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit(f"the server did not become healthy:\n{log.read_text()}")


def write(out: Path, result: dict[str, Any]) -> None:
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), **result}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


class CpuSplit:
    """Where the machine's cores went while a server was under load: each worker's event loop
    (its main thread: HTTP, reading, ranking) and its other threads (the model's calls), the
    master, this process (the clients), the hypervisor's steal and idle time; read from /proc
    between `__init__` and `stop`. Issue 24 asks whether serving or the model holds the cores."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.pids = [master, *self._children(master)]
        self.started = self._read()

    @staticmethod
    def _children(pid: int) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    def _read(self) -> dict[str, float]:
        tick = os.sysconf("SC_CLK_TCK")
        seconds: dict[str, float] = {}
        for pid in self.pids:
            try:
                tasks = list(Path(f"/proc/{pid}/task").iterdir())
            except OSError:  # a worker that has ended (its time is lost to the split)
                continue
            for task in tasks:
                try:
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:  # a thread that has just ended
                    continue
                used = (int(fields[11]) + int(fields[12])) / tick
                if pid == self.master:
                    role = "master"
                else:
                    role = "worker loops" if int(task.name) == pid else "worker model threads"
                seconds[role] = seconds.get(role, 0.0) + used
        usage = os.times()
        seconds["clients (this process)"] = usage.user + usage.system
        cpu = [int(x) / tick for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        seconds["steal"], seconds["idle"] = cpu[7], cpu[3] + cpu[4]
        seconds["wall"] = time.monotonic()
        return seconds

    def stop(self, answers: int) -> dict[str, Any]:
        """Each part's share of the cores' time, and its milliseconds of CPU an answer."""
        ended = self._read()
        used = {k: ended[k] - self.started.get(k, 0.0) for k in ended if k != "wall"}
        capacity = (ended["wall"] - self.started["wall"]) * (os.cpu_count() or 1)
        return {
            part: {
                "share": round(seconds / capacity, 3),
                "ms_an_answer": round(1000 * seconds / answers, 2) if answers else None,
            }
            for part, seconds in used.items()
        }
