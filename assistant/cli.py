"""The `mmn-assistant` command: build the index, ask questions, serve the web app.

Each command parses its options, calls the core and prints; heavy libraries are imported
inside the commands so that `--help` is instant.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import click

from assistant.errors import AssistantError
from assistant.limits import DEFAULT_K, MAX_K, MIN_K
from assistant.settings import SettingsError, current, documented
from assistant.store import AUTO_FLAT_LIMIT, INDEX_TYPES


class _Group(click.Group):
    """Turns the core's errors into a one-line message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssistantError as exc:
            raise click.ClickException(str(exc)) from exc


corpus_option = click.option(
    "--corpus-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: current().corpus_dir,
    show_default="corpus, or MMN_CORPUS_DIR",
    help="Directory of article files.",
)
index_option = click.option(
    "--index-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: current().index_dir,
    show_default="index, or MMN_INDEX_DIR",
    help="Directory the index versions are written to and read from.",
)
model_option = click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=lambda: current().model,
    help="A local sentence-transformers model directory (default: the packaged all-MiniLM-L6-v2, "
    "whose weights are checked against the official hash).",
)


def _settings_help() -> str:
    rows = "\n".join(f"  {name:<22} {default:<8} {what}" for name, default, what in documented())
    return f"\b\nSettings (environment variables, checked at start):\n{rows}"


@click.group(cls=_Group, epilog=_settings_help())
@click.version_option(package_name="mmn-assistant")
def cli() -> None:
    """Answer clinicians' questions with cited passages from reviewed articles.

    An extractive reference aid for healthcare professionals: every answer quotes the
    article and carries its professional disclaimer. It is not medical advice.
    """


def _embedder(model_path: Path | None, index_dir: Path):  # -> SentenceTransformerEmbedder
    """The model, with its ONNX export kept beside the index it serves (unless
    MMN_MODEL_EXPORT_DIR says where)."""
    from assistant.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model_path, export_dir=index_dir / "models")


def build_and_report(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Any,
    *,
    progress: bool,
    full: bool = False,
    index_type: str = "auto",
    train: bool = True,
    fine_tune: bool = False,
) -> None:
    """Parse the corpus, embed what changed, train the ranker on the example questions, publish
    a new index version, and say what was built."""
    from assistant.build import build_corpus
    from assistant.ingest import load_corpus
    from assistant.settings import FineTuneSettings

    started = time.perf_counter()
    articles = load_corpus(corpus_dir)
    for article in articles:
        click.echo(
            f"parsed {article.source}: {len(article.passages)} passages, "
            f"last updated {article.last_updated.isoformat()}, review status: {article.review_status}",
            err=True,
        )
    loaded = build_corpus(
        corpus_dir,
        embedder,
        index_dir,
        train=train,
        full=full,
        index_type=index_type,
        progress=progress,
        say=lambda message: click.echo(f"  {message}", err=True),
        articles=articles,
        fine_tune=FineTuneSettings() if fine_tune else None,
    )
    manifest = loaded.manifest
    report = manifest.build
    click.echo(
        f"built index version {loaded.version} in {loaded.path}: "
        f"{len(loaded.passages)} passages from {len(articles)} article(s), "
        f"model {manifest.model.name}, {time.perf_counter() - started:.1f} s\n"
        f"  passages: {report.added} added, {report.changed} changed, "
        f"{report.removed} removed, {report.unchanged} unchanged; "
        f"vectors: {report.embedded} embedded, {report.reused} reused from the cache\n"
        f"  FAISS index: {manifest.vector_index.kind} ({manifest.vector_index.reason})\n"
        + "\n".join(training_lines(manifest.training))
        + "".join(f"\n{line}" for line in fine_tune_lines(manifest.fine_tuned))
    )


def fine_tune_lines(provenance: dict[str, Any] | None) -> list[str]:
    if not provenance:
        return []
    took = "reused unchanged" if provenance.get("reused") else f"{provenance.get('seconds')} s"
    return [
        f"  fine-tuned      from {provenance['base_model']} (weights "
        f"{provenance['base_weights_sha256'][:12]}…) on {provenance['examples']} examples "
        f"(examples {provenance['examples_sha256'][:12]}…), {took}"
    ]


def training_lines(training: dict[str, Any]) -> list[str]:
    """What the build learnt from the example questions, for `build` and `status`."""
    if not training.get("trained"):
        reason = training.get("reason", "no training recorded")
        return [
            f"  ranker          untrained ({reason}): the model's own vectors, no learnt decline"
        ]
    cv = training.get("cross_validation", {})
    counts = ", ".join(f"{k} {v}" for k, v in training.get("examples", {}).items())
    took = (
        "reused unchanged" if training.get("reused") else f"trained in {training.get('seconds')} s"
    )
    lines = [
        f"  ranker          trained on {training['in_scope']} in-scope and "
        f"{training['out_of_scope']} out-of-scope examples ({counts}); seed {training['seed']}, "
        f"{took}",
        f"  artefact        {training['artefact_sha256'][:16]}…",
        f"  {cv.get('folds')}-fold CV       hit@1 {cv.get('hit@1')}, hit@3 {cv.get('hit@3')}, "
        f"MRR {cv.get('mrr')}, out-of-scope declined {cv.get('declined_out_of_scope')}, "
        f"wrongly declined {cv.get('wrongly_declined')}",
    ]
    stale = training.get("stale") or []
    if stale:
        lines.append(
            f"  stale examples  {len(stale)} (their gold phrase is in no passage; not used):"
        )
        lines += [f"    {s['file']}:{s['line']}: {s['question']}" for s in stale]
    return lines


@cli.command()
@corpus_option
@index_option
@model_option
@click.option(
    "--full", is_flag=True, help="Embed every passage again instead of reusing cached vectors."
)
@click.option(
    "--rollback",
    is_flag=True,
    help="Publish the version built before the published one (nothing is parsed or embedded).",
)
@click.option(
    "--no-train",
    "no_train",
    is_flag=True,
    help="Serve the model untrained: ignore the example questions in corpus/examples/.",
)
@click.option(
    "--fine-tune",
    "fine_tune",
    is_flag=True,
    help="Also fine-tune the model itself on the examples before training the ranker: about "
    "2.5 minutes more on 2 cores for 800 examples, and 90 MB more per version; measured +0.05 "
    "hit@1 on held-out examples, +0.015 on the test part (docs/retrieval.md).",
)
@click.option(
    "--index-type",
    type=click.Choice(INDEX_TYPES),
    default="auto",
    show_default=True,
    help="The FAISS index: auto chooses by the number of passages (exact flat below "
    f"{AUTO_FLAT_LIMIT:,}, ivf-fp16 from there); see bench/README.md for the measurements.",
)
def build(
    corpus_dir: Path,
    index_dir: Path,
    model_path: Path | None,
    full: bool,
    rollback: bool,
    no_train: bool,
    fine_tune: bool,
    index_type: str,
) -> None:
    """Parse the articles, embed what changed, train the ranker on the example questions
    (corpus/examples/) and publish a new index version.

    A passage whose embedded text and model are unchanged reuses its stored vector. The
    previous version keeps serving until the new one is written and checked; a build that
    fails leaves it untouched. A running server picks the new version up within seconds.
    """
    if rollback:
        from assistant.store import rollback as roll_back

        if full:
            raise click.UsageError("--rollback and --full do not go together")
        version = roll_back(index_dir)
        click.echo(f"published the earlier version {version} in {index_dir}")
        return
    build_and_report(
        corpus_dir,
        index_dir,
        _embedder(model_path, index_dir),
        progress=sys.stderr.isatty(),
        full=full,
        index_type=index_type,
        train=not no_train,
        fine_tune=fine_tune,
    )


@cli.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def status(index_dir: Path, as_json: bool) -> None:
    """Show the published index version: when and from which articles it was built, with which
    model, how many passages, and the other versions kept for rollback."""
    from assistant.errors import IndexStoreError
    from assistant.store import VERSIONS, published_version, read_manifest, versions

    version = published_version(index_dir)
    if version is None:
        raise IndexStoreError(f"{index_dir}: no index has been built; run `mmn-assistant build`")
    manifest = read_manifest(index_dir / VERSIONS / version)
    if as_json:
        click.echo(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False))
        return
    model, report = manifest.model, manifest.build
    lines = [
        f"published version {version} ({index_dir / VERSIONS / version})",
        f"  built at        {manifest.built_at} in {manifest.build_seconds} s, "
        f"package {manifest.package_version}",
        f"  model           {model.name} (weights {model.weights_sha256[:12]}…, "
        f"dimension {model.dimension})",
        f"  index           {manifest.index_type}, {manifest.passage_count} passages",
        f"  last build      {report.added} added, {report.changed} changed, "
        f"{report.removed} removed, {report.unchanged} unchanged; "
        f"{report.embedded} embedded, {report.reused} reused",
    ]
    for article in manifest.articles:
        lines.append(
            f"  article         {article.id}: {article.title!r}, last updated "
            f"{article.last_updated}, {article.passage_count} passages, "
            f"review status: {article.review_status}"
        )
    lines += training_lines(manifest.training)
    lines += fine_tune_lines(manifest.fine_tuned)
    others = [v for v in versions(index_dir) if v != version]
    lines.append(f"  also kept       {', '.join(others) if others else 'none'}")
    click.echo("\n".join(lines))


@cli.command()
@click.argument("question")
@click.option(
    "--history",
    multiple=True,
    metavar="EARLIER_QUESTION",
    help="An earlier question of the same conversation (repeat, oldest first).",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(MIN_K, MAX_K),
    default=DEFAULT_K,
    show_default=True,
    help="How many passages to return.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the same JSON object as POST /api/ask."
)
@click.option("--article", metavar="ID", help="Only search this article (see `status`).")
@click.option(
    "--base-url",
    metavar="URL",
    help="Where the web app is served (e.g. https://ref.example.org): each passage's link is "
    "printed in full, to open in a browser.",
)
@index_option
@model_option
def ask(
    question: str,
    history: tuple[str, ...],
    k: int,
    as_json: bool,
    article: str | None,
    base_url: str | None,
    index_dir: Path,
    model_path: Path | None,
) -> None:
    """Answer QUESTION with ranked, cited passages and the article's disclaimer.

    Example: mmn-assistant ask "What is the first-line treatment?"
    """
    from assistant.answer import answer_to_dict
    from assistant.engine import Engine
    from assistant.limits import Query, check_k

    query = Query.read(question, history)  # refuse bad input before loading the model
    check_k(k)
    engine = Engine.open(index_dir, _embedder(model_path, index_dir))
    answer = engine.answer(query, k, article=article)
    if as_json:
        click.echo(json.dumps(answer_to_dict(answer), ensure_ascii=False, indent=2))
        return
    click.echo(format_answer(answer_to_dict(answer), base_url=base_url))


def format_answer(data: dict[str, Any], width: int = 88, *, base_url: str | None = None) -> str:
    """A terminal rendering of an answer: rank, text, section and citations, its article's date,
    review status and link (in full with `base_url`), then the disclaimer."""
    base = (base_url or "").rstrip("/")
    lines = [f"Q: {data['question']}"]
    if data["history"]:
        lines.append("   (following: " + " / ".join(data["history"]) + ")")
    lines.append("")
    if data["message"]:
        lines += textwrap.wrap(data["message"], width) + [""]
    for item in data["passages"]:
        refs = ", ".join(str(c) for c in item["citations"]) or "none"
        label = "" if item["relevant"] else "  [weak match]"
        lines += textwrap.wrap(f"{item['rank']}. {item['text']}", width, subsequent_indent="   ")
        lines.append(
            f"   Section: {' > '.join(item['section'])} | References: [{refs}] | "
            f"score {item['score']:.3f}{label}"
        )
        lines.append(
            f"   {item['article_title']} (updated {item['last_updated']}, review status: "
            f"{item['review_status']}), {base}{item['url']}"
        )
        lines.append("")
    lines.append("Disclaimer:")
    for paragraph in data["disclaimer"].split("\n\n"):
        lines += textwrap.wrap(paragraph, width, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines)


@cli.command()
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
@corpus_option
@index_option
@model_option
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
    from web.serving import is_loopback
    from web.serving import serve as run

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
    embedder = _embedder(model_path, index_dir)

    def build_first() -> None:
        click.echo(f"no index in {index_dir}: building it first", err=True)
        build_and_report(corpus_dir, index_dir, embedder, progress=sys.stderr.isatty())

    run(settings, host=host, port=port, embedder=embedder, build=build_first)


@cli.command(name="eval")
@click.argument("gold", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--k",
    "k",
    type=click.IntRange(MIN_K, MAX_K),
    default=5,
    show_default=True,
    help="Rank cut-off for hit@k and nDCG@k.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--compare",
    is_flag=True,
    help="Run every retrieval variant (dense, lexical, hybrid, + vocabulary, + follow-ups) on the same set.",
)
@index_option
@model_option
def evaluate(
    gold: Path,
    k: int,
    as_json: bool,
    compare: bool,
    index_dir: Path,
    model_path: Path | None,
) -> None:
    """Measure retrieval quality on a GOLD set (JSON Lines; format in the README).

    Prints hit@1, hit@3, MRR, nDCG@k, the share of out-of-scope questions declined, the share
    of in-scope questions wrongly declined, and every question whose relevant passage is not first.

    Example: mmn-assistant eval tests/gold/test.jsonl --compare
    """
    from assistant.engine import Engine
    from assistant.evaluation import evaluate as run
    from assistant.evaluation import format_report, load_gold, report_json
    from assistant.search import DEFAULT_OPTIONS, VARIANTS

    items = load_gold(gold)
    engine = Engine.open(index_dir, _embedder(model_path, index_dir))
    variants = VARIANTS if compare else {"default": DEFAULT_OPTIONS}
    # a version built with --fine-tune searches with its fine-tuned model in every variant
    tuned = "fine-tuned model: " if engine.index.manifest.fine_tuned else ""
    reports = [run(engine, items, k=k, options=o, name=tuned + n) for n, o in variants.items()]
    if as_json:
        click.echo(
            json.dumps({"gold": str(gold), "reports": [report_json(r) for r in reports]}, indent=2)
        )
        return
    for report in reports:
        click.echo(format_report(report, show_misses=not compare or report is reports[-1]))
        click.echo("")
    if compare:
        click.echo(format_comparison(reports))


def format_comparison(reports: list[Any]) -> str:
    """One line a variant, so the gain of each stage is visible."""
    k = reports[0].k
    head = f"{'variant':<42} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {f'nDCG@{k}':>7} {'OOS declined':>13} {'wrong declines':>15}"
    rows = [head, "-" * len(head)]
    for report in reports:
        m = report.metrics()
        rows.append(
            f"{report.name:<42} {m['hit@1']:>6.3f} {m['hit@3']:>6.3f} {m['mrr']:>6.3f} {m[f'ndcg@{k}']:>7.3f} "
            f"{(m['declined_out_of_scope'] or 0) * 100:>12.1f}% {(m['wrongly_declined'] or 0) * 100:>14.1f}%"
        )
    return "\n".join(rows)


feedback_option = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=lambda: current().feedback_db,
    show_default="data/feedback.sqlite3, or MMN_FEEDBACK_DB",
    help="The feedback store.",
)


@cli.group(cls=_Group)
def feedback() -> None:
    """Review clinicians' judgements of answers; accepted ones become example questions.

    \b
    answers  -> corpus/examples/<article-id>.jsonl (gold: the judged passage, or --gold)
    not      -> with --gold naming the passage that does answer, or --out-of-scope
    missing  -> corpus/examples/out-of-scope.jsonl
    The next `build` trains on what was accepted.
    """


@feedback.command(name="list")
@feedback_option
@click.option(
    "--status",
    type=click.Choice(["new", "accepted", "rejected"]),
    help="Only rows with this status.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array of rows.")
def feedback_list(db_path: Path, status: str | None, as_json: bool) -> None:
    """List judgements, oldest first."""
    from assistant.feedback import FeedbackStore

    if not db_path.exists():  # a mistyped --db must not create an empty store
        click.echo(f"no feedback store at {db_path}")
        return
    rows = FeedbackStore(db_path).rows(status)  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"no {status + ' ' if status else ''}feedback in {db_path}")
        return
    for row in rows:
        where = f"passage {row.rank} ({row.passage})" if row.passage else "the whole answer"
        earlier = f"  (after: {' / '.join(row.history)})" if row.history else ""
        click.echo(
            f"#{row.id} {row.created_at} {row.status:<8} {row.verdict:<7} {row.article}, "
            f"{where}, index {row.index_version}\n    {row.question}{earlier}"
            + (f"\n    {row.note}" if row.note else "")
        )


@feedback.command(name="accept")
@feedback_option
@corpus_option
@click.argument("feedback_id", type=int)
@click.option("--gold", help="A phrase copied from the passage that answers the question.")
@click.option(
    "--out-of-scope", is_flag=True, help="No passage answers it: add it to out-of-scope.jsonl."
)
def feedback_accept(
    db_path: Path, corpus_dir: Path, feedback_id: int, gold: str | None, out_of_scope: bool
) -> None:
    """Accept judgement FEEDBACK_ID: append it to the right examples file."""
    from assistant.feedback import FeedbackStore, accept

    decision = accept(
        FeedbackStore(db_path), corpus_dir, feedback_id, gold=gold, out_of_scope=out_of_scope
    )
    click.echo(
        f"accepted #{feedback_id}: {decision.note}; run `mmn-assistant build` to train on it"
    )


@feedback.command(name="reject")
@feedback_option
@click.argument("feedback_id", type=int)
def feedback_reject(db_path: Path, feedback_id: int) -> None:
    """Reject judgement FEEDBACK_ID: it stays in the store, marked rejected."""
    from assistant.feedback import FeedbackStore, reject

    reject(FeedbackStore(db_path), feedback_id)
    click.echo(f"rejected #{feedback_id}")


@feedback.command(name="stats")
@feedback_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array, one entry per version.")
def feedback_stats(db_path: Path, as_json: bool) -> None:
    """Retrieval quality as clinicians judged it, per index version."""
    from assistant.feedback import FeedbackStore

    if not db_path.exists():
        click.echo(f"no feedback store at {db_path}")
        return
    stats = FeedbackStore(db_path).stats()
    if as_json:
        click.echo(json.dumps([s.to_json() for s in stats], indent=2))
        return
    if not stats:
        click.echo(f"no feedback in {db_path}")
        return

    def share(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.0f}%"

    click.echo(
        f"{'index version':<34} {'judged':>6} {'questions':>9} {'answered@1':>10} "
        f"{'in top 3':>8} {'not this':>8} {'missing':>7}"
    )
    for s in stats:
        click.echo(
            f"{s.index_version:<34} {s.judgements:>6} {s.questions:>9} "
            f"{share(s.answered_at_1):>10} {share(s.answered_in_top_3):>8} {s.not_this:>8} "
            f"{s.missing:>7}"
        )


@feedback.command(name="purge")
@feedback_option
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0, max=36500),
    required=True,
    metavar="DAYS",
    help="Delete judgements older than this many days, whatever their status.",
)
def feedback_purge(db_path: Path, days: float) -> None:
    """Delete old judgements (their questions leave the file too)."""
    from assistant.feedback import FeedbackStore

    deleted = FeedbackStore(db_path).purge(days)
    click.echo(f"deleted {deleted} judgement(s) older than {days:g} days from {db_path}")


def main() -> None:
    """The command's entry point: the settings are checked once, before anything else; a bad
    `MMN_*` value is one line and exit status 2, as a bad option is."""
    try:
        current()
    except SettingsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    cli(prog_name="mmn-assistant")
