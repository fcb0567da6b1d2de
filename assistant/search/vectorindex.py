"""Which FAISS index holds the passage vectors, chosen by the library's size.

An exact inner-product scan (`flat`) is the right index for one article and stays fast to tens
of thousands of passages. Beyond that an exact scan grows with the library and its memory is
4 bytes a number; `bench/scale.py` measured the alternatives on this machine (build time, memory,
search time, recall@10 against the exact scan) and the automatic choice follows its figures:

- `flat`: exact; chosen below AUTO_FLAT_LIMIT passages.
- `ivf-fp16`: an inverted file of half-precision vectors: half the memory of flat (744 MiB for
  a million), a few lists scanned instead of everything (2.2 ms for a million against 122 ms),
  and recall@10 of 0.975 at 100k and 0.954 at a million; chosen from AUTO_FLAT_LIMIT on.
- `ivf-sq8`: the same with 8-bit numbers: a quarter of flat's memory, but its rounding caps
  recall@10 near 0.925 at a million; on request, for libraries too large for `ivf-fp16`.
- `hnsw`: a navigable graph over full vectors: fast search, but the slowest build and more
  memory than flat; only on request.
- `ivfpq`: product-quantised vectors, the least memory, the lowest recall; only on request.

`build --index-type` overrides the choice, and the manifest records what was built and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.errors import IndexStoreError

INDEX_TYPES = ("auto", "flat", "ivf-fp16", "ivf-sq8", "hnsw", "ivfpq")
AUTO_FLAT_LIMIT = 100_000
"""From this many passages on, `auto` builds `ivf-fp16` instead of an exact scan."""

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
IVF_PROBE_SHARE = 1 / 64
IVF_MIN_PROBES = 32
"""Lists searched: a 64th of them, at least 32 (recall@10 0.975 at 100k and 0.954 at 1M in
bench/scale.py; 16 gave under 0.95 at 1M)."""
PQ_SUBVECTORS = 48
TRAIN_PER_LIST = 40
SCALAR_KINDS = {
    "ivf-fp16": lambda faiss: faiss.ScalarQuantizer.QT_fp16,
    "ivf-sq8": lambda faiss: faiss.ScalarQuantizer.QT_8bit,
}
"""Training vectors per inverted list (faiss wants at least 39)."""


@dataclass(frozen=True, slots=True)
class IndexChoice:
    """What was built, why, and the settings its searches use: recorded in the manifest."""

    kind: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)


def choose(count: int, requested: str = "auto") -> IndexChoice:
    """The index kind for `count` passages: the request, or by size when it is `auto`."""
    if requested not in INDEX_TYPES:
        raise IndexStoreError(
            f"unknown index type {requested!r}; use one of {', '.join(INDEX_TYPES)}"
        )
    if requested != "auto":
        return IndexChoice(requested, "requested")
    if count < AUTO_FLAT_LIMIT:
        return IndexChoice("flat", f"auto: under {AUTO_FLAT_LIMIT:,} passages, an exact scan")
    return IndexChoice("ivf-fp16", f"auto: {AUTO_FLAT_LIMIT:,} passages or more")


def _lists(count: int) -> int:
    """Inverted lists: about 2·√n (2,000 for a million: training stays under a minute on two
    cores), but few enough that each has its training points."""
    return max(1, min(int(2 * math.sqrt(count)), count // 39))


def build_vectors(
    vectors: np.ndarray, choice: IndexChoice, *, seed: int = 1234
) -> tuple[Any, IndexChoice]:
    """A trained, filled FAISS index of `vectors` (unit rows; inner product = cosine)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dimension = vectors.shape
    use_build_threads()
    metric = faiss.METRIC_INNER_PRODUCT
    params: dict[str, Any] = {}
    index: Any  # faiss's SWIG stubs give each class alone; the code holds any of them
    if choice.kind == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif choice.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, metric)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        params = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}
    elif choice.kind in ("ivf-fp16", "ivf-sq8", "ivfpq"):
        lists = _lists(count)
        quantizer = faiss.IndexFlatIP(dimension)
        if choice.kind in SCALAR_KINDS:
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dimension, lists, SCALAR_KINDS[choice.kind](faiss), metric
            )
        else:
            if dimension % PQ_SUBVECTORS:
                raise IndexStoreError(
                    f"ivfpq needs a dimension divisible by {PQ_SUBVECTORS}; this model's is "
                    f"{dimension}: use another index type"
                )
            # 8-bit codes want 256 x 39 training points; a small library gets fewer bits.
            bits = max(1, min(8, int(math.log2(max(1, count // 39)))))
            index = faiss.IndexIVFPQ(quantizer, dimension, lists, PQ_SUBVECTORS, bits, metric)
        rng = np.random.default_rng(seed)
        sample = min(count, max(lists * TRAIN_PER_LIST, 256 * 40 if choice.kind == "ivfpq" else 0))
        # (product quantisers train on at least 256 x 40 points when the library has them)
        train = (
            vectors[rng.choice(count, size=sample, replace=False)] if sample < count else vectors
        )
        index.train(train)
        index.nprobe = min(lists, max(IVF_MIN_PROBES, math.ceil(lists * IVF_PROBE_SHARE)))
        params = {"nlist": lists, "nprobe": index.nprobe, "trained_on": int(len(train))}
        if choice.kind == "ivfpq":
            params |= {"pq_subvectors": PQ_SUBVECTORS, "pq_bits": bits}
    else:  # pragma: no cover - choose() refuses other names
        raise IndexStoreError(f"unknown index type {choice.kind!r}")
    index.add(vectors)
    use_search_threads()
    return index, IndexChoice(choice.kind, choice.reason, params)


class VectorStore(Protocol):
    """Where passage vectors are searched: the seam between retrieval and the store.

    FAISS in the process's memory (`FaissStore`) is the one implementation, right to about a
    million passages on one machine (`bench/scale.py`). A library beyond that, or one shared by
    many machines, needs a distributed vector database behind this same interface: the
    retriever asks only for the nearest passages by inner product, within an optional set of
    positions (one article's)."""

    @property
    def size(self) -> int:
        """How many vectors: position i is passage i."""
        ...

    @property
    def kind(self) -> str:
        """What the manifest calls it (`flat`, `ivf-fp16`, …)."""
        ...

    @property
    def dimension(self) -> int: ...

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of the k nearest vectors to each query, best first; -1 pads."""
        ...


@dataclass(frozen=True, slots=True)
class FaissStore:
    """A FAISS index in this process's memory."""

    index: Any  # faiss.Index

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    @property
    def kind(self) -> str:
        return kind_of(self.index)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Restricted by an id selector to `allowed` positions when given."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if allowed is None:
            return self.index.search(queries, k)
        import faiss

        selector = faiss.IDSelectorBatch(allowed)
        params = search_parameters(self.index, selector)
        return self.index.search(queries, k, params=params)


def search_parameters(index: Any, selector: Any) -> Any:
    """Search parameters that restrict to `selector` and keep the index's own search depth."""
    import faiss as faiss_module

    faiss: Any = faiss_module  # its stubs omit the keyword arguments these classes take

    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    if isinstance(index, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    return faiss.SearchParameters(sel=selector)


def kind_of(index: Any) -> str:
    """The kind of a loaded index, to check it against the manifest."""
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVFPQ):
        return "ivfpq"
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return "ivf-fp16" if index.sq.qtype == faiss.ScalarQuantizer.QT_fp16 else "ivf-sq8"
    if isinstance(index, faiss.IndexFlat):
        return "flat"
    return type(index).__name__


def read_vectors(path: Path, kind: str) -> Any:
    """A stored index, memory-mapped where its kind allows: the vectors stay in the page cache,
    shared by every process that serves the version (`serve --workers`, replicas on one
    machine), instead of a copy in each. Flat indexes map their codes and inverted files their
    lists; HNSW is read into memory."""
    import faiss

    if kind == "flat":
        # (faiss before 1.10 cannot map flat codes; it reads them, as it always did)
        flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | faiss.IO_FLAG_READ_ONLY
    elif kind in ("ivf-fp16", "ivf-sq8", "ivfpq"):
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY
    else:
        flags = 0
    index = faiss.read_index(str(path), flags)
    if flags & faiss.IO_FLAG_MMAP and kind != "flat":
        # Mapped lists come as on-disk lists, which start up to 32 threads to prefetch on
        # every search: 4.9 ms a query at 100k passages against 2.0 in memory, 1.7 without.
        ivf: Any = faiss.extract_index_ivf(index)
        lists = faiss.downcast_InvertedLists(ivf.invlists)
        if hasattr(lists, "prefetch_nthread"):
            lists.prefetch_nthread = 0
    return index


SEARCH_THREADS = 1
"""One query vector at a time: FAISS's OpenMP threads cost more than they save there (on two
cores, a 10k-passage exact scan took 1.4 ms with one thread and 10 ms with two while another
process was busy), and concurrent requests already use the cores."""


def use_search_threads() -> None:
    """Set FAISS to the thread count searching wants; building (training) keeps all cores."""
    import faiss

    faiss.omp_set_num_threads(SEARCH_THREADS)


def use_build_threads() -> None:
    import os

    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
