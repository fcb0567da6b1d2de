"""A passage longer than the model reads is embedded as the mean of its windows.

The model reads at most `input_tokens` tokens of a text (254 for all-MiniLM-L6-v2, its two
markers left out) and cuts the rest, so a long paragraph's later sentences were invisible to
dense search (BM25 still read them). Such a passage is embedded in windows of whole sentences
(a sentence too long for one, in runs of words), each led by the passage's place in the
article: the lines of its indexed text before the statement (topic, section path, lead-in).
Its vector is the normalised mean of the windows' vectors; a passage that fits keeps its one
vector, bit for bit.

Measured (a scratch script, the untrained model, dense search only: the passages of the MMN
article and the four outside articles run together into paragraphs of about 300, 400 and 600
tokens, against their 265 in-scope gold questions): hit@1 0.487 / 0.521 / 0.449 cut, 0.551 /
0.581 / 0.608 in windows; for the questions whose answer lay past the cut, 0.276 / 0.329 /
0.323 against 0.586 / 0.463 / 0.579. No passage of the shipped corpus or of the outside
articles is that long (the longest, 110 tokens), so none of their figures moves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from assistant.embed.embedding import Embedder, input_tokens, token_counts
from assistant.embed.vectorcache import Embedded, embed_with_cache

SENTENCE_END = re.compile(r"(?<=[.;!?])\s+")
"""Where a statement splits into sentences: after a full stop, semicolon, ! or ?."""

Counter = Callable[[Sequence[str]], list[int]]


def windows(text: str, counts: Counter, limit: int) -> list[str]:
    """`text` as the model can read it whole: itself when it fits in `limit` tokens, else
    windows of its statement (its last line), each led by the lines before it. A text whose
    leading lines alone take half the limit stays as it is (cut), since its windows would be
    mostly those lines."""
    if counts([text])[0] < limit:
        return [text]
    head, _, statement = text.rpartition("\n")
    lead = f"{head}\n" if head else ""
    rest, _, word = statement.rstrip().rpartition(" ")
    if rest:  # counts stop at the limit: one exactly as long fits, and a word counts alone
        before = counts([lead + rest])[0]
        if before < limit and before + counts([word])[0] <= limit:
            return [text]
    if lead and counts([lead])[0] >= limit // 2:
        return [text]
    out: list[str] = []
    current: list[str] = []
    for piece in _pieces(statement, lead, counts, limit):
        if current and counts([lead + " ".join([*current, piece])])[0] >= limit:
            out.append(lead + " ".join(current))
            current = []
        current.append(piece)
    if current:
        out.append(lead + " ".join(current))
    return out


def _pieces(statement: str, lead: str, counts: Counter, limit: int) -> list[str]:
    """The statement's sentences, a sentence too long for a window cut into runs of words."""
    pieces: list[str] = []
    for sentence in SENTENCE_END.split(statement.strip()):
        if not sentence:
            continue
        if counts([lead + sentence])[0] < limit:
            pieces.append(sentence)
            continue
        run: list[str] = []
        for word in sentence.split():
            if run and counts([lead + " ".join([*run, word])])[0] >= limit:
                pieces.append(" ".join(run))
                run = []
            run.append(word)
        if run:
            pieces.append(" ".join(run))
    return pieces


def embed_windowed(
    embedder: Embedder,
    texts: Sequence[str],
    cached: dict[str, np.ndarray] | None = None,
    *,
    progress: bool = False,
) -> Embedded:
    """Vectors of passages' indexed texts, a long one as the mean of its windows; windows (and
    texts that fit) come from `cached` when it holds them, and are what the cache keeps."""
    cached = {} if cached is None else cached
    limit = input_tokens(embedder)
    if limit is None:
        split = [[text] for text in texts]
    else:
        counts = partial(token_counts, embedder)
        sizes = counts(texts)  # one batch: most passages fit
        split = [
            [text] if size < limit else windows(text, counts, limit)
            for text, size in zip(texts, sizes, strict=True)
        ]
    flat = [window for parts in split for window in parts]
    embedded = embed_with_cache(embedder, flat, cached, progress=progress)
    if len(flat) == len(texts):
        return embedded
    vectors = np.empty((len(texts), embedded.vectors.shape[1]), dtype=np.float32)
    reused = start = 0
    for i, parts in enumerate(split):
        block = embedded.vectors[start : start + len(parts)]
        keys = embedded.keys[start : start + len(parts)]
        start += len(parts)
        if len(parts) == 1:
            vectors[i] = block[0]
        else:
            mean = block.mean(axis=0)
            vectors[i] = mean / (float(np.sqrt(mean.dot(mean))) or 1.0)
        reused += all(key in cached for key in keys)
    return Embedded(
        vectors,
        embedded.keys,
        reused=reused,
        embedded=len(texts) - reused,
        stored=embedded.vectors,
    )
