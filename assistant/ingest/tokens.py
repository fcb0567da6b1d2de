"""Words as search sees them: lower-cased, stop words removed, Snowball-stemmed.

Hand-written rather than `bm25s.tokenize`, because a measurement says why (docstring below);
shared by the BM25 index, the vocabulary and the page's highlighting, so that all three agree
on what a word is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


TOKEN = re.compile(r"(?u)\b\w\w+\b")
"""bm25s's own token pattern: words of two characters or more."""


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords("en"))


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop words removed, Snowball-stemmed words: the same for passages and queries.

    The same tokens as `bm25s.tokenize(texts, stopwords="en", stemmer=...)` (a test holds them
    together) at a fraction of its cost: bm25s rebuilds its stop-word set and vocabulary on each
    call, about 1 ms for one question, which is a tenth of the ONNX query embedding.
    """
    stem = _stemmer().stemWords
    stop = _stopwords()
    return [stem([w for w in TOKEN.findall(text.lower()) if w not in stop]) for text in texts]
