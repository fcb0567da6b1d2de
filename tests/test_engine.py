"""The core call every surface uses, on the real model and a real index."""

import pytest

from assistant.errors import QueryError
from assistant.limits import MAX_HISTORY_ITEMS, MAX_K, MAX_QUESTION_CHARS


@pytest.mark.model
def test_the_ivig_dose_question_finds_the_dosing_passage_with_its_citation_and_section(engine):
    answer = engine.ask("What IVIg dose is used?")
    top = answer.passages[0]
    assert top.passage.text == "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
    assert top.passage.citations == (4,)
    assert top.passage.section[-1] == "IVIg Therapy"
    assert answer.disclaimer == engine.index.articles[top.article.id].disclaimer
    assert answer.disclaimer.startswith(
        "This information is intended for healthcare professionals."
    )
    assert [r.rank for r in answer.passages] == [1, 2, 3, 4, 5]
    assert answer.passages[0].score >= answer.passages[-1].score
    assert top.url == f"/article/what-is-multifocal-motor-neuropathy#p-{top.passage.id}"


@pytest.mark.model
def test_k_and_history_are_honoured(engine):
    answer = engine.ask("  steroids?  ", history=["What IVIg dose is used?"], k=2)
    assert answer.question == "steroids?"
    assert answer.history == ("What IVIg dose is used?",)
    assert len(answer.passages) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"question": ""}, "question is empty"),
        ({"question": " \t\n "}, "question is empty"),
        ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, f"the limit is {MAX_QUESTION_CHARS}"),
        ({"question": "ok", "k": 0}, "k is 0"),
        ({"question": "ok", "k": MAX_K + 1}, f"between 1 and {MAX_K}"),
        ({"question": "ok", "history": ["fine", ""]}, "history[1] is empty"),
        ({"question": "ok", "history": ["q"] * (MAX_HISTORY_ITEMS + 1)}, "history has"),
    ],
)
@pytest.mark.model
def test_input_outside_the_limits_is_refused_with_what_to_fix(engine, kwargs, message):
    with pytest.raises(QueryError) as caught:
        engine.ask(**kwargs)
    assert message in str(caught.value)


def test_an_article_filter_keeps_the_answer_to_that_article(tmp_path, hash_embedder):
    import shutil

    from assistant.build import build_index
    from assistant.engine import Engine
    from assistant.ingest.corpus import load_corpus
    from tests.conftest import ARTICLE

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    second = corpus / "mmn-second-edition.txt"  # the same article under another id
    second.write_text(ARTICLE.read_text().replace("1.6-2.4 g/kg", "2 g/kg"))
    build_index(load_corpus(corpus), hash_embedder, tmp_path / "index")
    engine = Engine.open(tmp_path / "index", hash_embedder)
    both = {p.article.id for p in engine.ask("IVIg dose g/kg", k=20).passages}
    assert both == {"mmn-second-edition", "what-is-multifocal-motor-neuropathy"}
    only = engine.ask("IVIg dose g/kg", k=20, article="mmn-second-edition")
    assert {p.article.id for p in only.passages} == {"mmn-second-edition"}
    assert "Dosing: 2 g/kg given intravenously over 3-5 days" in [
        p.passage.text for p in only.passages
    ]
    with pytest.raises(QueryError, match="there is no article 'nope'; the articles are: mmn-sec"):
        engine.ask("dose?", article="nope")


def test_the_engine_runs_on_the_settings_it_is_given_not_the_environment(
    tmp_path, hash_embedder, monkeypatch
):
    """Settings are read once, at the edge, and passed down: a variable set later (or a bad
    one) does not reach an engine that was handed its settings."""
    from assistant.build import build_index
    from assistant.engine import Engine
    from assistant.ingest.corpus import load_corpus
    from assistant.settings import Settings
    from tests.conftest import CORPUS

    build_index(load_corpus(CORPUS), hash_embedder, tmp_path / "index")
    monkeypatch.setenv("MMN_QUERY_CACHE", "not a number")
    monkeypatch.setenv("MMN_BATCH_TEXTS", "0")
    given = Settings.model_construct(query_cache=3, batch_texts=5)
    engine = Engine.open(tmp_path / "index", hash_embedder, settings=given)
    for question in ("IVIg dose", "IVIg dose", "GM1 antibodies", "CIDP", "ALS"):
        engine.ask(question)
    cache = engine.embedder
    assert cache.size == 3 and cache.inner.max_texts == 5
    assert (cache.hits, cache.misses) == (1, 4)
    engine.ask("IVIg dose")  # three others came after it: a cache of 3 has let it go
    assert (cache.hits, cache.misses) == (1, 5)


def test_a_follow_ups_bm25_is_summed_over_every_passage_before_the_best_are_kept(
    tmp_path, hash_embedder
):
    """In a library larger than the candidates taken (50), a passage middling for the question
    and for the conversation may be best on their sum: the sum is taken over every passage.

    Hand-made: 60 passages say "ulnar" twice, 60 say "tibial" twice, 5 say each once. For
    "ulnar" after "tibial", each list's 50 best hold none of the 5; on the sum (BM25 gives a
    word said twice 1.43 times the score of once; history weighs 0.5) they come first."""
    import numpy as np

    from assistant.build import build_index
    from assistant.engine import Engine
    from assistant.ingest.corpus import load_corpus
    from assistant.search.ranker import query_texts

    bullets = [f"- Item item{i}x shows ulnar ulnar weakness today." for i in range(60)]
    bullets += [f"- Item item{i}y shows tibial tibial weakness today." for i in range(60)]
    bullets += [f"- Item item{i}z shows ulnar tibial weakness today." for i in range(5)]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "many-passages.md").write_text(
        "---\ntitle: Many passages\nlast_updated: 2026-03-15\nreview_status: test data\n---\n\n"
        "# Many passages\n\n## Findings\n\n" + "\n".join(bullets) + "\n\n"
        "## Professional Medical Disclaimer\n\nSynthetic test data, not medical content.\n"
    )
    build_index(load_corpus(corpus), hash_embedder, tmp_path / "index")
    engine = Engine.open(tmp_path / "index", hash_embedder)
    ranker, index = engine.ranker, engine.index
    assert len(index.passages) == 125 and ranker.candidates == 50

    retrieval = engine.retrieve("ulnar", ["tibial"], 5)
    mixed = {i for i, p in enumerate(index.passages) if "ulnar tibial" in p.text}
    assert len(mixed) == 5 and mixed <= retrieval.lexical_scores.keys()
    assert set(sorted(retrieval.lexical_scores, key=retrieval.lexical_scores.get)[-5:]) == mixed

    # and the whole list is the sum's 50 best (of equal passages, any), computed here from
    # the BM25 index itself
    text, context = query_texts("ulnar", ["tibial"], ranker.history_turns, index.vocabulary)
    assert context is not None
    summed = index.lexical.scores(text) + 0.5 * index.lexical.scores(context)
    kept = retrieval.lexical_scores
    assert all(np.isclose(s, summed[i]) for i, s in kept.items())
    assert np.allclose(sorted(kept.values()), np.sort(summed)[-50:])


@pytest.mark.model
def test_the_servers_path_answers_every_dev_question_as_the_cli_does(index_dir, embedder):
    """`answer_async` (the server's, the model call shared with other questions) and `answer`
    (the CLI's and the eval command's) run the same stages: same passages, same scores, same
    decline, for every dev gold question with its history. No question cache, so that every
    vector comes from a shared call, and a mix-up of rows between callers would show."""
    import asyncio

    from assistant.engine import Engine
    from assistant.evaluation import load_gold
    from assistant.limits import Query
    from assistant.settings import Settings
    from tests.conftest import ROOT, run_loop

    uncached = Settings(query_cache=0)
    served = Engine.open(index_dir, embedder, settings=uncached)
    alone = Engine.open(index_dir, embedder, settings=uncached)
    items = load_gold(ROOT / "tests" / "gold" / "dev.jsonl")
    queries = [Query.read(item.question, item.history) for item in items]

    async def ask():
        return await asyncio.gather(*(served.answer_async(q, 5) for q in queries))

    together = run_loop(ask())  # all at once: they share model calls
    batcher = served.embedder.inner
    assert 0 < batcher.calls < batcher.texts  # shared calls did happen
    assert len(together) > 100
    for query, answer in zip(queries, together, strict=True):
        expected = alone.answer(query, 5)
        assert answer.answerable == expected.answerable, query.question
        got = [(p.passage.id, p.relevant) for p in answer.passages]
        assert got == [(p.passage.id, p.relevant) for p in expected.passages], query.question
        for a, b in zip(answer.passages, expected.passages, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)


@pytest.mark.model
def test_a_version_is_not_served_as_loaded_elsewhere_with_another_model(
    index_dir, embedder, hash_embedder
):
    """A worker serving its master's copy of a version (`Engine.from_loaded`) refuses a model
    whose weights are not the ones the version was built with: its answers would look right
    and be wrong."""
    from assistant.engine import Engine
    from assistant.errors import IndexStoreError
    from assistant.search.loaded import load_index
    from assistant.settings import defaults

    loaded = load_index(index_dir, embedder.info)
    engine = Engine.from_loaded(index_dir, loaded, embedder, settings=defaults())
    assert engine.index is loaded
    with pytest.raises(IndexStoreError, match="other weights"):
        Engine.from_loaded(index_dir, loaded, hash_embedder, settings=defaults())
