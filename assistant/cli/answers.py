"""`ask` and `eval`: answer a question, and measure the answers on a gold set."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from assistant.cli import common
from assistant.limits import DEFAULT_K, MAX_K, MIN_K
from assistant.records import steps_going_on
from assistant.settings import current

MAX_STDIN_BYTES = 64 * 1024
"""Read from standard input for QUESTION "-": a question is far shorter (`limits`), so more
is a file sent by mistake, refused before it is held."""


@click.command()
@click.argument("question")
@click.option(
    "--history",
    multiple=True,
    metavar="EARLIER_QUESTION",
    help="An earlier question of the same conversation (repeat, oldest first).",
)
@click.option(
    "-k",
    "--k",
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
@common.index_option
@common.model_option
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
    """Answer QUESTION with ranked, cited passages and the article's disclaimer. QUESTION "-"
    reads it from standard input (kept out of the shell's history and the process list).

    Example: mmn-assistant ask "What is the first-line treatment?"
    """
    from assistant.answer import answer_to_dict
    from assistant.engine import Engine
    from assistant.limits import Query, check_k

    if question == "-":
        question = _stdin_question()

    for text in (question, *history):
        if undecoded := [c for c in text if "\udc80" <= c <= "\udcff"]:
            # Python keeps an argument's bytes that are not UTF-8 as these stand-ins
            raise click.BadParameter(
                f"holds the byte 0x{ord(undecoded[0]) - 0xDC00:02x}, which is not UTF-8 text; "
                "type it again, or set the terminal to UTF-8",
                param_hint="QUESTION" if text is question else "--history",
            )
    query = Query.read(question, history)  # refuse bad input before loading the model
    check_k(k)
    engine = Engine.open(index_dir, common.embedder(model_path, index_dir), settings=current())
    answer = engine.answer(query, k, article=article)
    if as_json:  # the links as the API gives them, in full when a base is given
        click.echo(common.as_json(_absolute(answer_to_dict(answer), base_url)))
        return
    click.echo(format_answer(answer_to_dict(answer), base_url=base_url))


def _absolute(data: dict[str, Any], base_url: str | None) -> dict[str, Any]:
    """The answer's links in full under `base_url` (`--base-url` with `--json` was ignored)."""
    if base_url:
        base = base_url.rstrip("/")
        for item in data["passages"]:
            for linked in (item, *item.get("items", ())):
                if str(linked.get("url", "")).startswith("/"):
                    linked["url"] = base + linked["url"]
    return data


def _stdin_question() -> str:
    """The question piped in for QUESTION "-": its lines read as one question."""
    stream = sys.stdin.buffer
    if stream.isatty():
        click.echo("Type the question, then Ctrl-D:", err=True)
    raw = stream.read(MAX_STDIN_BYTES + 1)
    if len(raw) > MAX_STDIN_BYTES:
        raise click.BadParameter(
            f"standard input holds over {MAX_STDIN_BYTES:,} bytes; send one question",
            param_hint="QUESTION",
        )
    try:  # without the line ending an editor ends the file with: not part of the question
        return raw.decode("utf-8-sig").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError as error:
        raise click.BadParameter(
            f"standard input holds the byte 0x{raw[error.start]:02x} at offset {error.start}, "
            "which is not UTF-8 text; save it as UTF-8",
            param_hint="QUESTION",
        ) from None


_SCRIPT = re.compile(r"<(su[bp])>([^<>]{1,40}?)</\1>", re.IGNORECASE)
_SCRIPTS = {  # what a terminal has a character for, and the mark for the rest
    "sub": (str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎"), "_"),
    "sup": (str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ"), "^"),
}


def plain(text: str) -> str:
    """An article's sub- and superscripts as a terminal can show them: "cmH<sub>2</sub>O" reads
    "cmH₂O", "10<sup>9</sup>/L" reads "10⁹/L" (the page draws the tags; a terminal printed
    them). What has no such character keeps a mark, "x^(ab)", so 10<sup>9</sup> never reads
    109."""

    def shown(match: re.Match[str]) -> str:
        table, mark = _SCRIPTS[match[1].lower()]
        if all(ord(ch) in table for ch in match[2]):
            return match[2].translate(table)
        return f"{mark}({match[2]})"

    return _SCRIPT.sub(shown, text)


def _wrapped(text: str, width: int, first: str, later: str) -> list[str]:
    """`text` wrapped, each of its lines on its own (a code block's dosing card keeps its rows)."""
    out: list[str] = []
    for at, line in enumerate(text.split("\n")):
        start = first if at == 0 else later
        out += textwrap.wrap(line, width, initial_indent=start, subsequent_indent=later)
    return out


def format_answer(data: dict[str, Any], width: int = 88, *, base_url: str | None = None) -> str:
    """A terminal rendering of an answer: rank, text, the lead-in or bullet it stands under,
    section and citations, its article's date, review status and link (in full with
    `base_url`), then the disclaimer."""
    base = (base_url or "").rstrip("/")
    lines = [f"Q: {data['question']}"]
    if data["history"]:
        lines.append("   (following: " + " / ".join(data["history"]) + ")")
    lines.append("")
    if data["message"]:
        lines += textwrap.wrap(plain(data["message"]), width) + [""]
        if data.get("unmentioned"):
            named = ", ".join(f"\u201c{w}\u201d" for w in data["unmentioned"])
            lines += textwrap.wrap(f"No article mentions {named}.", width) + [""]
    for item in data["passages"]:
        refs = f"[{', '.join(str(c) for c in item['citations'])}]" if item["citations"] else "none"
        weak = "  [less relevant]" if data["answerable"] else "  [weak match]"  # as the page says
        label = "" if item["relevant"] else weak
        lines += _wrapped(f"{item['rank']}. {plain(item['text'])}", width, "", "   ")
        level = "sub-step" if item.get("depth") else "step"  # "1." under step 2 is no step 1
        step = f" ({level} {item['number'][:-1]})" if item.get("number") else ""
        if item.get("context"):  # what it is said of: "5 mg twice daily" under "Apixaban"
            lead = item.get("context_citations") or ()  # the lead-in's references: its list's
            cites = f" [{', '.join(map(str, lead))}]" if lead else ""
            lines += textwrap.wrap(
                f"   Under: {plain(item['context'])}{cites}{step}",
                width,
                subsequent_indent="          ",
            )
        elif step:
            lines.append(f"   {level.capitalize()} {item['number'][:-1]} of a numbered list")
        listed_items = item.get("items") or ()  # the list a lead-in introduces
        going_on = steps_going_on((i.get("number", ""), i.get("depth", 0)) for i in listed_items)
        for listed, goes_on in zip(listed_items, going_on, strict=True):
            cited = f" [{', '.join(map(str, listed['citations']))}]" if listed["citations"] else ""
            mark = listed.get("number") or "-"  # a numbered list keeps its steps' numbers
            if goes_on:  # a step's later sentence goes on under it
                mark = " " * len(mark)
            pad = "   " + "  " * listed.get("depth", 0)  # a nested item under its lead
            lines += _wrapped(f"{pad}{mark} {plain(listed['text'])}{cited}", width, "", pad + "  ")
        lines.append(
            f"   Section: {plain(' > '.join(item['section']))} | References: {refs} | "
            f"score {item['score']:.3f}{label}"
        )
        lines.append(
            f"   {plain(item['article_title'])} (updated {item['last_updated']}, review status: "
            f"{item['review_status']}), {base}{item['url']}"
        )
        lines.append("")
    lines.append("Disclaimer:")
    for paragraph in data["disclaimer"].split("\n\n"):
        lines += textwrap.wrap(plain(paragraph), width, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines)


@click.command(name="eval")
@click.argument("gold", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "-k",
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
    help="Run every retrieval variant on the same set: the untrained model (dense), BM25, the "
    "learnt adapter, and the adapter fused with BM25 (what is served).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail (exit status 1) when a gold phrase is said by no passage, instead of warning: "
    "for a check after an article edit.",
)
@click.option(
    "--by-tag",
    is_flag=True,
    help="Also print the figures of each tag of the gold set (a voice, a kind of question).",
)
@common.index_option
@common.model_option
def evaluate(
    gold: Path,
    k: int,
    as_json: bool,
    compare: bool,
    strict: bool,
    by_tag: bool,
    index_dir: Path,
    model_path: Path | None,
) -> None:
    """Measure retrieval quality on a GOLD set (JSON Lines; format in the README).

    Prints hit@1, hit@3, MRR, nDCG@k, the share of out-of-scope questions declined, the share
    of in-scope questions wrongly declined, answered@1 (the first passage shown answers and the
    answer was not declined), and every question whose relevant passage is not first. The
    figures are defined in docs/using.md.

    Example: mmn-assistant eval tests/gold/test.jsonl --compare
    """
    from assistant.engine import Engine
    from assistant.evaluation import evaluate as run
    from assistant.evaluation import (
        format_by_tag,
        format_report,
        load_gold,
        repeated,
        report_json,
        unreachable,
        unsaid,
    )
    from assistant.search import DEFAULT_OPTIONS, VARIANTS

    items = load_gold(gold)
    engine = Engine.open(index_dir, common.embedder(model_path, index_dir), settings=current())
    texts = [p.text for p in engine.index.passages]
    missing, phrases = unreachable(items, texts), unsaid(items, texts)
    if missing:
        click.echo(
            f"warning: {gold}: no passage of the served articles says a gold phrase of "
            f"{len(missing)} in-scope question(s), which can only count as misses: "
            f"{', '.join(missing)}; check their phrases against the article",
            err=True,
        )
    if phrases:
        listed = "; ".join(f"{i}: {', '.join(p)}" for i, p in phrases.items())
        click.echo(
            f"warning: {gold}: {sum(map(len, phrases.values()))} gold phrase(s) are said by no "
            f"passage in whole words, and score nothing: {listed}",
            err=True,
        )
    for first, again in repeated(items):
        click.echo(f"warning: {gold}: {again} asks what {first} asks; it counts twice", err=True)
    if strict and phrases:
        raise click.ClickException(f"{gold}: gold phrases no passage says (--strict); see above")
    variants = VARIANTS if compare else {"default": DEFAULT_OPTIONS}
    # a version built with --fine-tune searches with its fine-tuned model in every variant
    tuned = "fine-tuned model: " if engine.index.manifest.fine_tuned else ""
    reports = [run(engine, items, k=k, options=o, name=tuned + n) for n, o in variants.items()]
    if as_json:
        out = {"gold": str(gold), "unsaid": phrases, "reports": [report_json(r) for r in reports]}
        click.echo(json.dumps(out, indent=2))
        return
    for report in reports:
        click.echo(format_report(report, show_misses=not compare or report is reports[-1]))
        if by_tag and report is reports[-1]:
            click.echo(format_by_tag(report))
        click.echo("")
    if compare:
        click.echo(format_comparison(reports))


def format_comparison(reports: list[Any]) -> str:
    """One line a variant, so the gain of each stage is visible."""
    from assistant.evaluation import percent, shown

    k = reports[0].k
    head = f"{'variant':<42} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {f'nDCG@{k}':>7} {'OOS declined':>13} {'wrong declines':>15}"
    rows = [head, "-" * len(head)]
    for report in reports:
        m = report.metrics()
        rows.append(
            f"{report.name:<42} {shown(m['hit@1'], 6)} {shown(m['hit@3'], 6)} {shown(m['mrr'], 6)} "
            f"{shown(m[f'ndcg@{k}'], 7)} {percent(m['declined_out_of_scope']):>13} "
            f"{percent(m['wrongly_declined']):>15}"
        )
    return "\n".join(rows)
