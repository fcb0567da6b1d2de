"""A passage longer than the model reads is embedded whole, as the mean of its windows."""

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from assistant.embed.embedding import token_counts
from assistant.embed.vectorcache import text_key
from assistant.embed.windows import embed_windowed, windows
from assistant.ingest.corpus import load_article

LONG = Path(__file__).parent / "fixtures" / "long" / "what-is-cardiac-amyloidosis.txt"


def words(text: str) -> list[str]:
    return text.split()


def test_a_text_that_fits_is_one_window_and_a_long_one_keeps_every_word_in_order():
    counts = partial(token_counts, None)  # words stand in for tokens
    lead = "Cardiac Amyloidosis\nOverview\n"
    statement = " ".join(f"Sentence {i} has five words." for i in range(40))  # 200 words
    assert windows(lead + "Short. Text.", counts, 50) == [lead + "Short. Text."]
    parts = windows(lead + statement, counts, 50)
    assert len(parts) > 4
    assert all(part.startswith(lead) and counts([part])[0] < 50 for part in parts)
    assert [w for part in parts for w in words(part.removeprefix(lead))] == words(statement)
    # a sentence longer than a window is cut into runs of words; none is lost
    run_on = " ".join(f"w{i}" for i in range(120))
    parts = windows(lead + run_on, counts, 50)
    assert [w for part in parts for w in words(part.removeprefix(lead))] == words(run_on)
    # a text exactly as long as the model reads fits (counts stop there: one word more would
    # read the same)
    exact = lead + " ".join(["word"] * 47)  # 3 + 47 = 50 words
    assert windows(exact, partial(lambda texts: [min(len(t.split()), 50) for t in texts]), 50) == [
        exact
    ]
    # leading lines that take half the window leave the text as it was (cut by the model)
    long_lead = " ".join(["heading"] * 30) + "\n"
    assert windows(long_lead + statement, counts, 50) == [long_lead + statement]


def test_an_embedder_without_a_limit_embeds_each_text_once(hash_embedder):
    texts = ["a short passage", " ".join(["word"] * 2000)]
    embedded = embed_windowed(hash_embedder, texts)
    np.testing.assert_array_equal(embedded.vectors, hash_embedder.embed(texts))


@pytest.mark.model
def test_the_end_of_a_long_paragraph_is_found(embedder):
    """The overview paragraph runs past what the model reads (about 350 tokens): questions
    about its last sentences found other passages first while it was cut."""
    passages = load_article(LONG).passages
    texts = [p.index_text for p in passages]
    overview = next(i for i, p in enumerate(passages) if p.section[-1] == "Overview")
    assert token_counts(embedder, [texts[overview]])[0] == embedder.input_tokens()  # cut
    windowed = embed_windowed(embedder, texts).vectors
    cut = embedder.embed(texts)
    questions = embedder.embed(
        ["when does the benefit of tafamidis start", "apical sparing on strain echo"]
    )
    assert list(np.argmax(questions @ windowed.T, axis=1)) == [overview, overview]
    assert overview not in np.argmax(questions @ cut.T, axis=1)
    # every other passage keeps the model's own vector, bit for bit
    others = [i for i in range(len(texts)) if i != overview]
    np.testing.assert_array_equal(windowed[others], cut[others])
    np.testing.assert_allclose(np.linalg.norm(windowed, axis=1), 1.0, atol=1e-6)


@pytest.mark.model
def test_a_rebuild_takes_the_windows_from_the_cache(embedder):
    texts = [p.index_text for p in load_article(LONG).passages]
    first = embed_windowed(embedder, texts)
    assert len(first.keys) == len(texts) + 1  # the overview's two windows, kept by the cache
    assert all(text_key(t) in first.keys for t in texts if len(t) < 1000)
    cached = dict(zip(first.keys, first.cache_vectors, strict=True))
    again = embed_windowed(embedder, texts, cached)
    assert (again.reused, again.embedded) == (len(texts), 0)
    np.testing.assert_array_equal(again.vectors, first.vectors)
