"""The `mmn-assistant` command, run as a user would."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.cli import common as cli_module
from assistant.store.directory import has_index, published_version
from tests.conftest import ROOT

pytestmark = pytest.mark.server


@pytest.fixture
def runner(embedder, monkeypatch):
    """The CLI with the session's already loaded model, so no test loads it twice."""
    monkeypatch.setattr(cli_module, "embedder", lambda model_path, index_dir: embedder)
    return CliRunner()


@pytest.mark.model
def test_ask_prints_ranked_cited_passages_and_the_disclaimer(runner, index_dir):
    result = runner.invoke(
        cli, ["ask", "What IVIg dose is used?", "--index-dir", str(index_dir), "-k", "3"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("1. Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days") < out.index("2. ")
    assert "IVIg Therapy | References: [4]" in out
    assert "Disclaimer:" in out and "Dr.Oracle assumes no liability" in out
    # passages after the first that are not close to it, labelled as the page labels them
    assert "[less relevant]" in out and "[weak match]" not in out


@pytest.mark.model
def test_ask_names_the_word_no_article_mentions_under_the_decline(runner, index_dir):
    result = runner.invoke(
        cli, ["ask", "Would mycophenolate help in MMN?", "--index-dir", str(index_dir)]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("does not cover this question") < out.index(
        "No article mentions \u201cmycophenolate\u201d."
    )


@pytest.mark.model
def test_ask_json_is_the_api_object(runner, index_dir):
    result = runner.invoke(
        cli,
        [
            "ask",
            "steroids?",
            "--history",
            "What IVIg dose is used?",
            "--json",
            "-k",
            "2",
            "--index-dir",
            str(index_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["history"] == ["What IVIg dose is used?"]
    assert len(data["passages"]) == 2
    assert data["disclaimer"].startswith(
        "This information is intended for healthcare professionals."
    )


@pytest.mark.model
def test_ask_reads_the_question_from_standard_input_with_a_dash(runner, index_dir):
    """A question with patient details is kept out of the shell's history and `ps` when piped
    in; its lines read as one question."""
    result = runner.invoke(
        cli,
        ["ask", "-", "--json", "-k", "1", "--index-dir", str(index_dir)],
        input=b"What IVIg dose\nis used?\n",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["question"] == "What IVIg dose is used?"
    assert data["passages"][0]["text"].startswith("Dosing: 1.6-2.4 g/kg")


def test_ask_from_standard_input_refuses_what_is_no_question(tmp_path):
    for sent, said in [
        (b"\xff\xfe", "holds the byte 0xff at offset 0, which is not UTF-8"),
        (b"x" * 70_000, "over 65,536 bytes; send one question"),
        (b"", "question is empty"),
    ]:
        result = CliRunner().invoke(cli, ["ask", "-", "--index-dir", str(tmp_path)], input=sent)
        assert result.exit_code in (1, 2) and said in result.output, result.output


def test_a_piped_question_of_the_limit_is_not_refused_for_its_line_ending(tmp_path):
    """A file of exactly 500 characters, ending in the newline any editor adds, was "501
    characters long" (CRLF: 502)."""
    question = ("What IVIg dose is used " * 30)[:499] + "?"
    for ending in (b"\n", b"\r\n", b""):
        result = CliRunner().invoke(
            cli,
            ["ask", "-", "--index-dir", str(tmp_path / "none")],
            input=question.encode() + ending,
        )
        assert "characters long" not in result.output and "no index" in result.output, result.output
    longer = CliRunner().invoke(cli, ["ask", "-", "--index-dir", str(tmp_path)], input=b"x" * 501)
    assert "501 characters long" in longer.output


def test_ask_refuses_bad_input_before_loading_anything(tmp_path):
    result = CliRunner().invoke(cli, ["ask", "   ", "--index-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "question is empty" in result.output
    result = CliRunner().invoke(cli, ["ask", "ok", "-k", "0"])
    assert result.exit_code == 2 and "-k" in result.output


@pytest.mark.model
def test_ask_without_an_index_says_how_to_build(runner, tmp_path):
    result = runner.invoke(cli, ["ask", "dose?", "--index-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "mmn-assistant build" in result.output
    assert "Traceback" not in result.output


@pytest.mark.model
def test_build_writes_and_reports(runner, corpus_copy, index_dir, tmp_path):
    """A first version in a new folder. The session's caches go in first, as an editor's copy
    of a built folder would hold them: the cold build is the session's own (`index_dir`), and a
    second training here would add half a minute to the suite and test nothing more."""
    import shutil

    index = tmp_path / "built"
    shutil.copytree(index_dir / "cache", index / "cache")
    result = runner.invoke(
        cli, ["build", "--corpus-dir", str(corpus_copy), "--index-dir", str(index)]
    )
    assert result.exit_code == 0, result.output
    assert "32 passages from 1 article(s)" in result.output
    assert "reused unchanged" in result.output and "first build" in result.output
    assert has_index(index) and published_version(index) is not None


@pytest.mark.model
def test_a_malformed_article_fails_the_build_naming_file_and_line_and_writes_nothing(
    runner, corpus_copy, tmp_path
):
    article = corpus_copy / "what-is-multifocal-motor-neuropathy.txt"
    article.write_text(
        article.read_text().replace(
            "Last updated: February 2, 2026", "Last updated: Febtober 2, 2026"
        )
    )
    index = tmp_path / "built"
    result = runner.invoke(
        cli, ["build", "--corpus-dir", str(corpus_copy), "--index-dir", str(index)]
    )
    assert result.exit_code == 1
    assert f"{article}:10: cannot read the date" in result.output
    assert published_version(index) is None and not index.exists()


def test_python_dash_m_and_help_list_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    for command in ("build", "ask", "serve"):
        assert command in result.stdout


def test_the_docs_document_every_command_and_option():
    """The README names every command; docs/using.md, its reference, every option."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    reference = (ROOT / "docs" / "using.md").read_text(encoding="utf-8")
    import click

    for name, command in cli.commands.items():
        assert f"`{name}`" in readme, f"README does not name `{name}`"
        assert f"`{name}" in reference, f"docs/using.md does not document `{name}`"
        subcommands = command.commands if isinstance(command, click.Group) else {}
        for sub, leaf in [(name, command), *((f"{name} {s}", c) for s, c in subcommands.items())]:
            assert f"`{sub}" in reference, f"docs/using.md does not document `{sub}`"
            for param in leaf.params:
                for option in param.opts:
                    if option.startswith("-"):
                        assert option in reference, (
                            f"docs/using.md does not document {sub} {option}"
                        )


def test_the_address_a_server_listens_on_is_a_host_it_answers():
    from assistant.settings import allowing, current

    assert allowing("localhost", "10.1.2.3") == "localhost,10.1.2.3"
    assert allowing("localhost", "[FE80::1]") == "localhost,fe80::1"
    assert allowing("localhost", "2001:DB8:0:0::5") == "localhost,2001:db8::5"  # as browsers
    assert current(allowed_hosts="0:0:0:0:0:0:0:1").hosts == {"::1"}
    assert allowing("localhost", "0.0.0.0") == allowing("localhost", "::") == "localhost"
    assert allowing("localhost", "my host") == "localhost"  # bind_problem says what is wrong


def test_only_loopback_addresses_are_served_without_allow_remote():
    from web.serving import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.5", "example.org"]))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MMN_QUERY_CACHE", "lots"),
        ("MMN_QUERY_CACHE", "-1"),
        ("MMN_EMBED_RUNTIME", "gpu"),
        ("MMN_FORWARDED_ALLOW_IPS", "*"),  # any client could name its own address
        ("MMN_FORWARDED_ALLOW_IPS", "127.0.0.1, nginx.local"),
        ("MMN_FORWARDED_ALLOW_IPS", "10.0.0.1/8"),  # host bits set: gunicorn failed at start
        ("MMN_ALLOWED_HOSTS", "https://assistant.example.org"),  # a name, not an address
        ("MMN_ALLOWED_HOSTS", "assistant.example.org:8000"),  # the port is any port
        ("MMN_ALLOWED_HOSTS", " , "),  # no name: nothing would be answered
        ("MMN_INDEX_DIR", ""),  # the current folder: a repository's README read as an article
        ("MMN_CORPUS_DIR", " "),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_status_2_before_any_work(variable, value):
    import os

    result = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "What is the first-line treatment?"],
        capture_output=True,
        text=True,
        env={**os.environ, variable: value},
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"Error: {variable}={value!r} cannot be used")


def test_help_lists_every_setting():
    from assistant.settings import documented

    result = CliRunner().invoke(cli, ["--help"])
    for name, _, _ in documented():
        assert name in result.output


@pytest.mark.model
def test_ask_prints_each_passages_review_status_and_full_link(runner, index_dir):
    result = runner.invoke(
        cli,
        ["ask", "What IVIg dose is used?", "--index-dir", str(index_dir), "-k", "1",
         "--base-url", "https://ref.example.org/"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "review status: pending human review), https://ref.example.org/article/" in result.output
    as_json = runner.invoke(  # `--base-url` with `--json` was ignored without a word
        cli,
        ["ask", "What are the diagnostic features of MMN?", "--json", "-k", "3",
         "--index-dir", str(index_dir), "--base-url", "https://ref.example.org/"],
    )  # fmt: skip
    data = json.loads(as_json.output)
    links = [p["url"] for p in data["passages"]] + [
        i["url"] for p in data["passages"] for i in p["items"]
    ]
    assert len(links) > 3 and all(u.startswith("https://ref.example.org/article/") for u in links)


@pytest.mark.model
def test_ask_prints_what_a_passage_stands_under(runner, index_dir):
    """A bullet says little without its lead-in; the page showed it, the terminal did not."""
    result = runner.invoke(
        cli,
        ["ask", "Are conduction blocks hard to detect?", "--index-dir", str(index_dir), "-k", "1"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("1. Conduction blocks can be"))
    assert lines[at + 1].startswith("   Under: The diagnosis of MMN requires specific")


@pytest.mark.model
def test_ask_prints_a_lead_ins_list_under_it(runner, index_dir):
    result = runner.invoke(cli, ["ask", "MMN ddx?", "--index-dir", str(index_dir), "-k", "10"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "must be distinguished" in line)
    assert lines[at + 1].startswith("   - Amyotrophic lateral sclerosis (ALS)")
    assert any("- Lewis-Sumner syndrome" in line and "[1]" in "".join(lines[at:at + 8])
               for line in lines[at:at + 8])  # fmt: skip


# --- feedback -----------------------------------------------------------------------------------


def test_editors_review_feedback_from_the_command_line(tmp_path):
    """list, accept, reject, stats and purge, on a real store and a copy of the corpus."""
    import shutil

    from assistant.feedback import FeedbackStore, Judgement
    from assistant.ingest.corpus import load_article
    from tests.conftest import ARTICLE

    corpus = tmp_path / "corpus"
    (corpus / "examples").mkdir(parents=True)
    shutil.copy(ARTICLE, corpus)
    db = tmp_path / "feedback.sqlite3"
    store = FeedbackStore(db)
    dose = next(p for p in load_article(ARTICLE).passages if p.text.startswith("Dosing"))
    common = {"article": ARTICLE.stem, "index_version": "v1", "history": ()}
    answered = store.add(
        Judgement(question="IVIg dose?", passage=dose.id, rank=1, verdict="answers", **common)
    )
    missing = store.add(
        Judgement(question="Pregnancy?", passage=None, rank=None, verdict="missing", **common)
    )
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["feedback", *args, "--db", str(db)])
        assert result.exit_code == 0, result.output
        return result.output

    listed = run("list", "--status", "new")
    assert f"#{answered}" in listed and "answers" in listed and "IVIg dose?" in listed
    assert [r["id"] for r in json.loads(run("list", "--json"))] == [answered, missing]
    assert "added as" in run("accept", str(answered), "--corpus-dir", str(corpus))
    assert f"rejected #{missing}" in run("reject", str(missing))
    again = runner.invoke(
        cli, ["feedback", "accept", str(missing), "--db", str(db), "--corpus-dir", str(corpus)]
    )
    assert again.exit_code == 1 and "already rejected" in again.output  # one line, no traceback
    assert "Traceback" not in again.output
    (version,) = json.loads(run("stats", "--json"))
    assert (version["index_version"], version["judgements"], version["answered_at_1"]) == (
        "v1", 1, 1.0
    )  # fmt: skip
    assert version["missing"] == 0  # the rejected judgement is not counted
    assert "v1" in run("stats")
    assert "deleted 0" in run("purge", "--older-than", "30")
    assert "deleted 2" in run("purge", "--older-than", "0")
    from assistant.feedback.accounts import Accounts

    purges = [(e.action, e.detail) for e in Accounts(store).trail() if "purged" in e.action]
    assert purges == [("purged judgements", "2 deleted"), ("purged judgements", "0 deleted")]
    example = (corpus / "examples" / f"{ARTICLE.stem}.jsonl").read_text(encoding="utf-8")
    assert json.loads(example)["gold"] == [dose.text]


def test_fine_tuning_without_training_is_refused_before_any_work(tmp_path):
    result = CliRunner().invoke(
        cli, ["build", "--fine-tune", "--no-train", "--index-dir", str(tmp_path / "index")]
    )
    assert result.exit_code == 2
    assert "--fine-tune trains on the examples: drop --no-train" in result.output
    result = CliRunner().invoke(
        cli, ["build", "--drop-examples", "x", "--no-train", "--index-dir", str(tmp_path / "i")]
    )
    assert result.exit_code == 2
    assert "--no-train reads no examples, so none can be dropped" in result.output
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize(
    ("args", "says", "code"),
    [
        (["feedback", "accept", "999"], "no feedback store at", 1),
        (["feedback", "reject", "999"], "no feedback store at", 1),
        (["feedback", "purge", "--older-than", "0"], "nothing to delete", 0),
        (["feedback", "list"], "no feedback store at", 0),
    ],
)
def test_a_mistyped_feedback_store_is_said_and_never_created(tmp_path, args, says, code):
    db = tmp_path / "data" / "feedbak.sqlite3"
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert result.exit_code == code, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not db.exists()


def test_accept_names_its_own_flags_when_both_are_given(tmp_path):
    """The desk's words ("None: the article does not cover it") are not the terminal's."""
    db = tmp_path / "data" / "feedback.sqlite3"
    args = ["feedback", "accept", "1", "--gold", "1.6-2.4 g/kg", "--out-of-scope", "--db", str(db)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "give either --gold (the article answers it) or --out-of-scope" in result.output


@pytest.mark.parametrize("command", ["list", "stats"])
def test_feedback_json_without_a_store_is_still_json(tmp_path, command):
    """A script reading `--json` got a sentence it could not parse."""
    db = tmp_path / "data" / "feedback.sqlite3"
    result = CliRunner().invoke(cli, ["feedback", command, "--json", "--db", str(db)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "no feedback store at" in result.stderr and not db.exists()


def test_examples_fix_without_a_published_index_says_so(tmp_path):
    """Saying "nothing to fix" of an index directory that holds nothing would hide a typo."""
    typo = tmp_path / "indx"
    result = CliRunner().invoke(cli, ["examples", "fix", "--yes", "--index-dir", str(typo)])
    assert result.exit_code == 1
    assert f"{typo}: no index is published; run `mmn-assistant build`" in result.output


def test_a_question_with_bytes_that_are_not_utf8_is_named_as_such():
    """A shell's argument Python could not decode arrives as stand-ins: say what the byte was,
    not that the text holds half of a UTF-16 pair."""
    result = CliRunner().invoke(cli, ["ask", "dose \udcff\udcfe?"])
    assert result.exit_code == 2
    assert "holds the byte 0xff, which is not UTF-8 text" in result.output
    assert "UTF-16" not in result.output


def test_k_is_spelt_alike_in_ask_and_eval(tmp_path):
    """`ask -k 3` and `eval --k 3` both worked; each refused the other's spelling."""
    for command in (["ask", "q?"], ["eval", str(ROOT / "tests" / "gold" / "test.jsonl")]):
        for spelling in ("-k", "--k"):
            result = CliRunner().invoke(
                cli, [*command, spelling, "0", "--index-dir", str(tmp_path / "none")]
            )
            assert result.exit_code == 2 and "0 is not in the range" in result.output, result.output


def test_a_folder_the_build_cannot_make_is_one_line_with_what_to_do(corpus_copy, tmp_path):
    """The operating system's refusals (a disk full, a folder it may not write, a file where a
    folder should be) are said like any other error: the file, the reason, the fix."""
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "build", "--corpus-dir", str(corpus_copy),
         "--index-dir", str(blocked / "index"), "--no-train"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: {blocked / 'index'}") and "a file stands where a folder" in last


def test_an_article_that_links_to_nothing_is_named_not_left_out(corpus_copy):
    """On a share that is not mounted, an article would otherwise vanish from the next index."""
    from assistant.errors import ArticleError
    from assistant.ingest.corpus import load_corpus
    from assistant.ingest.parsing import read_text

    (corpus_copy / "what-is-kawasaki-disease.txt").symlink_to(corpus_copy / "unmounted" / "k.txt")
    with pytest.raises(ArticleError, match="kawasaki-disease.txt: a link to .*does not exist"):
        load_corpus(corpus_copy)
    with pytest.raises(ArticleError, match="cannot read the file .*a folder where a file"):
        read_text(corpus_copy / "examples")


def test_status_says_when_the_published_version_cannot_be_served(
    corpus_copy, hash_embedder, tmp_path
):
    """`status` must not call healthy what `serve` refuses; and with the pointer lost, it says
    the versions are still there."""
    from assistant.build import build_index
    from assistant.ingest.corpus import load_corpus

    index_dir = tmp_path / "index"
    loaded = build_index(load_corpus(corpus_copy), hash_embedder, index_dir)
    assert CliRunner().invoke(cli, ["status", "--index-dir", str(index_dir)]).exit_code == 0
    passages = loaded.path / "passages.jsonl"
    passages.write_bytes(passages.read_bytes().replace(b"IVIg", b"IVIG", 1))
    result = CliRunner().invoke(cli, ["status", "--index-dir", str(index_dir)])
    assert result.exit_code == 1 and f"{passages} does not match its hash" in result.output
    (index_dir / "CURRENT").unlink()
    result = CliRunner().invoke(cli, ["status", "--index-dir", str(index_dir)])
    assert (
        result.exit_code == 1
        and "build --rollback` publishes the one published last" in result.output
    )


@pytest.mark.model
def test_ask_on_a_terminal_that_is_not_utf8_writes_every_answer(index_dir):
    """A Windows script redirecting to a file (cp1252) or a legacy Latin-1 terminal: the
    article's own dashes and signs are written escaped, never a traceback."""
    import os

    for args in ([], ["--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "assistant", "ask", "What conditions must MMN be distinguished"
             " from? ≥ 😀", "-k", "3", "--index-dir", str(index_dir), *args],
            capture_output=True, timeout=300, env={**os.environ, "PYTHONIOENCODING": "latin-1"},
        )  # fmt: skip
        assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr[-500:]
        out = result.stdout.decode("latin-1")
        assert "\\u2265" in out  # the question's sign, escaped
        if args:
            assert json.loads(out)["question"].endswith("≥ 😀")  # JSON's own escapes: lossless
            assert "\\u2265" in out


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "dose", "-k", "0"],
        ["ask"],
        ["nosuch"],
        ["feedback", "purge"],
        ["eval", "/none.jsonl"],
    ],
)
def test_a_misused_option_is_one_line_and_exit_status_2(args):
    result = subprocess.run(
        [sys.executable, "-m", "assistant", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "--help`)" in line


def test_a_group_run_bare_prints_its_help_not_an_error():
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "editors"], capture_output=True, text=True, timeout=60
    )
    assert result.stderr.startswith("Usage: mmn-assistant editors") and "Error" not in result.stderr
