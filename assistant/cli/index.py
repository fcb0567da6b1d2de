"""`build` and `status`: make a new index version and say what it is."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from assistant.cli import common
from assistant.reflists import short
from assistant.search.vectorindex import AUTO_FLAT_LIMIT, INDEX_TYPES
from assistant.settings import current
from assistant.updates import fallen
from assistant.updates import lines as change_lines


def build_and_report(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Any,
    *,
    progress: bool,
    full: bool = False,
    index_type: str = "auto",
    train: bool = True,
    fine_tune: bool | None = None,
    strict: bool = False,
    audit: bool = True,
    dropped: tuple[str, ...] = (),
) -> None:
    """Parse the corpus, embed what changed, train the ranker on the example questions, publish
    a new index version, and say what was built."""
    from assistant.build import build_corpus
    from assistant.ingest import load_corpus
    from assistant.ingest.checks import slips
    from assistant.settings import FineTuneSettings

    started = time.perf_counter()
    settings = current()
    fine_tune = settings.fine_tune if fine_tune is None else fine_tune
    articles = load_corpus(corpus_dir)
    before = _published_training(index_dir)
    for article in articles:
        click.echo(
            f"parsed {article.source}: {len(article.passages)} passages, "
            f"last updated {article.last_updated.isoformat()}, review status: {article.review_status}",
            err=True,
        )
        for slip in slips(article):  # built as read: an editor decides whether it is a typo
            click.echo(f"warning: {slip}", err=True)
    loaded = build_corpus(
        corpus_dir,
        embedder,
        index_dir,
        dropped=dropped,
        settings=settings,
        train=train,
        full=full,
        index_type=index_type,
        progress=progress,
        say=lambda message: click.echo(f"  {message}", err=True),
        articles=articles,
        fine_tune=FineTuneSettings() if fine_tune and train else None,
        strict=strict,
    )
    manifest = loaded.manifest
    if audit:
        _audit("build published", f"version {loaded.version}", str(index_dir))
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
        + "".join(f"\n{line}" for line in change_lines(manifest.changes))
    )
    if worse := fallen(before, manifest.training):
        click.echo(
            f"warning: against the version before, cross-validation on the examples fell: "
            f"{'; '.join(worse)}. Read `mmn-assistant examples set-aside` and run `eval` on a "
            "gold set before relying on it; `build --rollback` publishes the version before",
            err=True,
        )


def _published_training(index_dir: Path) -> dict[str, Any] | None:
    """What the published version learnt (None without one): a build compares with it."""
    from assistant.errors import IndexStoreError
    from assistant.store.directory import published_manifest

    try:
        manifest = published_manifest(index_dir)
    except IndexStoreError:  # a damaged pointer: the build itself says so
        return None
    return None if manifest is None else manifest.training


def _audit(action: str, target: str, detail: str) -> None:
    """Into the desk's audit trail, when there is a feedback store to hold it (a build on a
    machine without one does not make one)."""
    from assistant.feedback.accounts import Accounts
    from assistant.feedback.store import FeedbackError, FeedbackStore

    store = FeedbackStore(current().feedback_db)
    if store.path.exists():
        try:
            Accounts(store).record(common.shell_user(), action, target, detail)
        except FeedbackError as exc:  # the build stands; the trail says nothing of it
            click.echo(f"warning: not in the audit trail: {exc}", err=True)


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
    counts = "read " + ", ".join(f"{k} {v}" for k, v in training.get("examples", {}).items())
    if stale := len(training.get("stale") or []):  # read, but not trained on
        counts += f"; {stale} of them stale"
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
    learnt = training.get("learnt") or {}
    if learnt.get("unmentioned_below") is not None:
        declined = learnt.get("declined_by_words") or []
        named = ", ".join(dict.fromkeys(w for d in declined for w in d["words"]))
        lines.append(
            f"  unmentioned     a word no article uses, rarer than Zipf {learnt['unmentioned_below']}"
            ", declines a question"
            + (
                f"; {len(declined)} in-scope examples name one"
                if "declined_by_words" in learnt
                else ""
            )
            + (f" ({short(named, 80)}): a synonyms rule would answer them" if declined else "")
        )
    for writer, f in cv.get("by_writer", {}).items():
        wrongly = f.get("wrongly_declined")  # what a voice loses: answers hidden from it
        scope = (
            f"hit@1 {f['hit@1']}, hit@3 {f['hit@3']}, MRR {f.get('mrr')} on {f['questions']}"
            + ("" if wrongly is None else f", {wrongly:.1%} wrongly declined")
            if f["questions"]
            else "no in-scope examples"
        )
        outside = (
            f"; {f['declined_out_of_scope']:.0%} of {f['out_of_scope_questions']} out of scope "
            "declined"
            if f["out_of_scope_questions"]
            else ""
        )
        lines.append(f"    by {writer:<16} {scope}{outside}")
    return lines


def _alone_with_rollback(context: click.Context) -> None:
    """`--rollback` publishes a version already built, so options that shape a build would be
    silently ignored: refuse them (a usage error) rather than let an editor believe they ran."""
    from click.core import ParameterSource

    shaping = {
        *("corpus_dir", "model_path", "full", "no_train", "fine_tune", "index_type", "strict"),
        "dropped",
    }
    given = [
        param.opts[0]
        for param in context.command.params
        if param.name in shaping
        and context.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(
            f"--rollback publishes a version already built; {', '.join(given)} would change "
            "nothing: drop it"
        )


@click.command()
@common.corpus_option
@common.index_option
@common.model_option
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
    "--drop-examples",
    "dropped",
    multiple=True,
    metavar="NAME",
    help="An examples file (corpus/examples/NAME.jsonl) the published version was trained on "
    "was deleted or emptied on purpose: train without it (a build otherwise stops). Repeat for "
    "each file.",
)
@click.option(
    "--fine-tune/--no-fine-tune",
    "fine_tune",
    default=None,
    help="Fine-tune the model itself on the examples before training the ranker (off by "
    "default; MMN_FINE_TUNE=true turns it on): about 4 minutes more on 2 cores for 1,500 examples "
    "and 90 MB more per version. Measured +0.045 hit@1 on blind questions in the ward's voices, "
    "but a new statement without examples is reached less often (docs/retrieval.md).",
)
@click.option(
    "--index-type",
    type=click.Choice(INDEX_TYPES),
    default="auto",
    show_default=True,
    help="The FAISS index: auto chooses by the number of passages (exact flat below "
    f"{AUTO_FLAT_LIMIT:,}, ivf-fp16 from there); see bench/README.md for the measurements.",
)
@click.option(
    "--desk-build",
    type=int,
    hidden=True,
    help="Started from the editors' desk as this build: the desk keeps its audit entry.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail, and leave the published version serving, when a new or edited passage cannot "
    "be reached by questions made from its own words.",
)
def build(
    corpus_dir: Path,
    index_dir: Path,
    model_path: Path | None,
    full: bool,
    rollback: bool,
    no_train: bool,
    fine_tune: bool | None,
    index_type: str,
    desk_build: int | None,
    strict: bool,
    dropped: tuple[str, ...],
) -> None:
    """Parse the articles, embed what changed, train the ranker on the example questions
    (corpus/examples/) and publish a new index version.

    A passage whose embedded text and model are unchanged reuses its stored vector. The
    previous version keeps serving until the new one is written and checked; a build that
    fails leaves it untouched. A running server picks the new version up within seconds.
    """
    if fine_tune and no_train:
        raise click.UsageError("--fine-tune trains on the examples: drop --no-train")
    if dropped and no_train:
        raise click.UsageError("--no-train reads no examples, so none can be dropped: use one")
    # "x.jsonl" or "corpus/examples/x.jsonl" name the file NAME is the stem of
    dropped = tuple(Path(name).name.removesuffix(".jsonl") for name in dropped)
    if rollback:
        from assistant.store import rollback as roll_back
        from assistant.store.directory import build_lock, versions

        _alone_with_rollback(click.get_current_context())
        if not versions(index_dir):  # the lock would make the directory of a mistyped path
            raise click.ClickException(
                f"{index_dir}: no index has been built here, so there is nothing to roll back "
                "to; check --index-dir (or MMN_INDEX_DIR)"
            )
        with build_lock(index_dir):  # a build running now would publish over the rollback
            version = roll_back(index_dir)
        _audit("rolled back", f"version {version}", str(index_dir))
        click.echo(f"published the earlier version {version} in {index_dir}")
        return
    build_and_report(
        corpus_dir,
        index_dir,
        common.embedder(model_path, index_dir),
        progress=sys.stderr.isatty(),
        full=full,
        index_type=index_type,
        train=not no_train,
        fine_tune=fine_tune,
        strict=strict,
        audit=desk_build is None,
        dropped=dropped,
    )


@click.command()
@common.index_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the whole manifest as JSON, with the versions kept for rollback as `kept`.",
)
def status(index_dir: Path, as_json: bool) -> None:
    """Show the published index version: when and from which articles it was built, with which
    model, how many passages, and the other versions kept for rollback."""
    from assistant.errors import IndexStoreError
    from assistant.store import VERSIONS, published_version, read_manifest, versions
    from assistant.store.directory import damage, nothing_published

    version = published_version(index_dir)
    if version is None:
        raise IndexStoreError(nothing_published(index_dir))
    manifest = read_manifest(index_dir / VERSIONS / version)
    if problem := damage(index_dir / VERSIONS / version, manifest):  # what serve would refuse
        raise IndexStoreError(
            f"published version {version} cannot be served: {problem}. Servers running keep "
            "the version they had; `mmn-assistant build --rollback` or `mmn-assistant build` "
            "mends it"
        )
    others = [v for v in versions(index_dir) if v != version]
    if as_json:  # with what `build --rollback` could go back to, as the text says
        click.echo(common.as_json({**manifest.to_json(), "kept": others}))
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
    lines += change_lines(manifest.changes)
    lines.append(f"  also kept       {', '.join(others) if others else 'none'}")
    click.echo("\n".join(lines))
