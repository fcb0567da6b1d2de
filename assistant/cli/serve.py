"""`serve`: the web page and the JSON API, in the processes `web.serving` runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from assistant.cli import common
from assistant.cli.index import build_and_report
from assistant.settings import allowing, current


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="The TCP port to listen on.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback: the server then answers other machines; its "
    "answers have no login (only the editors' desk has one), so put it behind a proxy that has.",
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
    --workers N, gunicorn runs N processes on the port, forked from a master that has loaded
    and checked the published version, whose memory they share; each loads the model, watches
    for new versions and uses its share of the cores.
    """
    from assistant.embed import SentenceTransformerEmbedder
    from web.serving import bind_problem, is_loopback
    from web.serving import serve as run

    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(
            f"--host {host} would answer other machines; the answers have no login of their own. "
            "Add --allow-remote to do it anyway (behind a proxy that authenticates), or use "
            "--host 127.0.0.1"
        )
    settings = current(
        corpus_dir=corpus_dir,
        index_dir=index_dir,
        model=model_path,
        workers=workers,
        max_in_flight=max_in_flight,
        allowed_hosts=allowing(current().allowed_hosts, host),
    )
    if problem := bind_problem(host, port):
        raise click.ClickException(problem)
    embedder = SentenceTransformerEmbedder.configured(
        settings, model_path, export_dir=index_dir / "models"
    )

    def build_first() -> None:
        click.echo(f"no index in {index_dir}: building it first", err=True)
        # with one worker the build's model serves next; N workers' threads are a share of
        # the cores, and the build (in a child of its own) takes them all
        model = embedder if workers == 1 else common.embedder(model_path, index_dir)
        build_and_report(corpus_dir, index_dir, model, progress=sys.stderr.isatty())

    run(settings, host=host, port=port, embedder=embedder, build=build_first)
