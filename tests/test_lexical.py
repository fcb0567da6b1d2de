"""BM25 over stemmed words: the fast tokenizer is bm25s's own tokenization."""

import bm25s

from assistant.evaluation import load_gold
from assistant.ingest.corpus import load_corpus
from assistant.ingest.tokens import _stemmer, tokenize
from tests.conftest import CORPUS, ROOT


def test_the_tokens_are_exactly_bm25s_tokens_for_every_passage_and_question():
    passages = [p.index_text for a in load_corpus(CORPUS) for p in a.passages]
    gold = ROOT / "tests" / "gold"
    questions = [i.question for f in ("dev.jsonl", "test.jsonl") for i in load_gold(gold / f)]
    odd = ["", "a", "NCS/EMG: 1.6-2.4 g/kg, IgM anti-GM1!", "Ça va? naïve café", "the of and"]
    for texts in (passages, questions, odd):
        expected = bm25s.tokenize(
            texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
        )
        assert tokenize(texts) == expected


def test_stop_words_go_and_words_are_stemmed():
    assert tokenize(["The patients are progressing"]) == [["patient", "progress"]]


def test_a_mapped_index_scores_as_a_loaded_one_and_stays_mapped(tmp_path):
    """The server maps the score matrix (one copy in the page cache for every worker); read
    through plain views, it must give the same scores, bit for bit, and stay file-backed."""
    import numpy as np

    from assistant.search.lexical import LexicalIndex

    passages = [p.index_text for a in load_corpus(CORPUS) for p in a.passages]
    LexicalIndex.build(passages).save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    mapped = LexicalIndex.load(tmp_path, mmap=True)
    data = mapped._model.scores["data"]
    assert type(data) is np.ndarray and isinstance(data.base, np.memmap)
    questions = [i.question for i in load_gold(ROOT / "tests" / "gold" / "dev.jsonl")]
    questions += ["", "IVIg dose", "the of and", "conduction block conduction block"]
    for question in questions:
        assert np.array_equal(mapped.scores(question), loaded.scores(question))


def test_scores_are_bm25s_own_bit_for_bit():
    """`scores_of` sums the score matrix itself, without bm25s's per-query code: for every
    gold question, a repeated word and words no passage has, bm25s's own scores, exactly."""
    import numpy as np

    from assistant.search.lexical import LexicalIndex

    passages = [p.index_text for a in load_corpus(CORPUS) for p in a.passages]
    index = LexicalIndex.build(passages)
    gold = ROOT / "tests" / "gold"
    questions = [i.question for f in ("dev.jsonl", "test.jsonl") for i in load_gold(gold / f)]
    questions += ["IVIg IVIg IVIg dose", "zzzz qqqq", "conduction block conduction block"]
    matched = 0
    for stems in tokenize(questions):
        known = [s for s in stems if s in index.vocabulary]
        expected = (
            np.asarray(index._model.get_scores(known), dtype=np.float32)
            if known
            else np.zeros(index.size, dtype=np.float32)
        )
        got = index.scores_of(stems)
        assert got.dtype == np.float32 and np.array_equal(got, expected)
        matched += bool(known)
    assert matched > 100
