"""`serve`: the web page and the JSON API."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from assistant.cli import common
from assistant.cli.index import build_and_report
from assistant.errors import AssistantError
from assistant.settings import current


def _check_apart(check: Callable[[], object]) -> None:
    """Run `check` in a forked child and raise its `AssistantError` here: what it starts (a
    fine-tuned model's threads) and loads dies with the child, and the workers, spawned,
    load their own."""
    if not hasattr(os, "fork"):  # pragma: no cover - not Linux: check in this process
        check()
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running any of the parent's cleanup
        os.close(read)
        code = 0
        try:
            check()
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
            code = 1
            message = str(exc) if isinstance(exc, AssistantError) else f"{exc!r}"
            os.write(write, message.encode("utf-8", "replace"))
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise AssistantError(message or "the index check stopped without a word")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: addresses no other machine can reach."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback: the server then answers other machines, "
    "with no login of its own (put it behind one).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=lambda: current().workers,
    show_default="1, or MMN_WORKERS",
    help="Server processes sharing the port; each uses its share of the cores.",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(1, 10_000),
    default=lambda: current().max_in_flight,
    show_default="64, or MMN_MAX_IN_FLIGHT",
    help="Requests a process answers at once; past it, 503 with Retry-After (not a queue).",
)
@common.corpus_option
@common.index_option
@common.model_option
def serve(
    host: str,
    port: int,
    allow_remote: bool,
    workers: int,
    max_in_flight: int,
    corpus_dir: Path,
    index_dir: Path,
    model_path: Path | None,
) -> None:
    """Serve the web page and the JSON API; builds the index first if there is none.

    Binds to loopback unless --allow-remote is given with another --host. Stops cleanly on
    SIGTERM or Ctrl-C: requests in flight finish (up to 10 s) before it exits. With
    --workers N, N processes share the port, forked from this one once it has loaded the
    published version, whose memory they share (spawned, each loading its own, when this
    process has run a model: a build, a fine-tuned version); each loads the model, watches for
    new versions and uses its share of the cores.
    """
    import logging.config

    import uvicorn

    from assistant.engine import Engine, fine_tuned_model
    from assistant.store import has_index
    from web.app import LOG_CONFIG, create_app

    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(
            f"--host {host} would answer other machines; the assistant has no login of its own. "
            "Add --allow-remote to do it anyway (behind a proxy that authenticates), or use "
            "--host 127.0.0.1"
        )
    settings = current(
        corpus_dir=corpus_dir,
        index_dir=index_dir,
        model=model_path,
        workers=workers,
        max_in_flight=max_in_flight,
    )
    embedder = common.embedder(model_path, index_dir)
    built = False
    if not has_index(index_dir):
        click.echo(f"no index in {index_dir}: building it first", err=True)
        build_and_report(corpus_dir, index_dir, embedder, progress=sys.stderr.isatty())
        built = True
    if workers == 1:
        embedder.load()  # healthy means ready: the first question does not wait for the model
    shared = None
    try:  # a damaged version stops us here, once
        if workers == 1:
            engine = Engine.open(index_dir, embedder, settings=settings)
        elif not built and fine_tuned_model(index_dir) is None:
            shared = Engine.open(
                index_dir, embedder, settings=settings
            ).index  # the workers are forked to share it
        else:
            # A build ran the model here, and a fine-tuned version's model would: their
            # threads cannot be forked, so the workers are spawned and load their own.
            _check_apart(lambda: Engine.open(index_dir, embedder, settings=settings))
    except AssistantError as exc:
        raise AssistantError(
            f"{exc}\nNo usable index version to serve. Rebuild it with `mmn-assistant build "
            f"--index-dir {index_dir}`, or publish the version before it with "
            "`mmn-assistant build --rollback`."
        ) from None
    logging.config.dictConfig(LOG_CONFIG)
    if not is_loopback(host):
        logging.getLogger("mmn_assistant.web").warning(
            "binding to %s: this server answers other machines and has no login of its own", host
        )
    # The app logs one line per request without the query string (a question's text);
    # uvicorn's access log would print it, so it is off, in every worker.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "log_config": LOG_CONFIG,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    if workers == 1:
        uvicorn.run(create_app(settings, engine=engine, watch=True), **options)
        return
    from web.worker import NoDelayHTTP, fork_sharing

    settings.hand_to_workers()
    if shared is not None:
        fork_sharing(shared)
    uvicorn.run("web.worker:app", factory=True, workers=workers, http=NoDelayHTTP, **options)
