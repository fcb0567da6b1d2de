"""Issue 24's ways to the model's speed, and what each costs in quality: figures for a decision.

The served question is not the question as typed: the vocabulary's bridges to the article's
words are appended to it ("Motrin" adds "NSAIDs"), so the model's call costs more than the raw
floor's and no serving cut reaches issue 24's ratios (bench/README.md). Each way round changes
what is embedded, so each is built into a temporary index and scored like a release:

- `served`: the build as it is (the reference; its figures are `eval`'s);
- `no-bridges`: questions embedded and searched as typed (`TrainingSettings(expand=False)`);
- `vector-bridges`: the question embedded as typed, its bridge text embedded alone, the two
  vectors added, weighted by their tokens (the bridge's at `BRIDGE_WEIGHT`), then normalised;
  BM25 still reads the bridges. One model call on the question, and one on a bridge text that
  repeats across questions and could be kept. `vector-bridges-phrase` embeds each bridge
  phrase alone instead: a finite set, so it could be embedded at build time;
- `shift-bridges-term`, `-phrase`: the question embedded as typed, plus each bridge part's
  shift: how appending it moves the vectors of a few generic questions (`FRAMES`, the build's
  `TrainingSettings.shift_frames`; their mean difference), scaled by the frames' length over
  the question's, as mean pooling dilutes an addition to a longer text. The shifts depend on
  the vocabulary alone, so a build could keep them and an answer would cost the raw floor's
  model call;
- `shifts`: the same as built and served (`TrainingSettings(bridges="shifts")`, the term
  grain; spelling corrections stay in the text the model reads);
- `int8`: the ONNX export quantised to int8 by onnxruntime (dynamic, per channel), used for
  passages, examples and questions alike.

For each: how close its question vectors come to the model's own vector of the bridged text
(mean and 10th-percentile cosine over the examples' and dev questions that have a bridge: no
label is read), the test part and the blind voices set (hit@1, MRR, out-of-scope declined,
wrongly declined), the build's 5-fold cross-validation over the examples (990 questions, 501
out of scope: the largest sample), and tests/test_safety.py's proposals of rejected treatments
on the corpus with the second article (how many miss the statement against them, and how many
of those are declined rather than ranked below another passage). For `int8`, also the model
call's p50 on the served texts, one at a time, against the float export in the same run,
interleaved, on the texts the published index (`--index-dir`) serves.

The bridge variants change `Vocabulary.bridge` in this process only (a diagnostic, not a
release).

    .venv/bin/python bench/options.py [--only served --only int8 ...]

Writes bench/results/issue24/options.json (about 2 minutes a variant on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.settings import TrainingSettings  # noqa: E402
from bench.common import RESULTS, machine, model, write  # noqa: E402
from bench.floor import (  # noqa: E402
    RawFloor,
    export_path,
    feeds,
    questions,
    raw_session,
    raw_tokenizer,
)

VARIANTS = (
    "served",
    "no-bridges",
    "vector-bridges",
    "vector-bridges-term",
    "vector-bridges-phrase",
    "shift-bridges-term",
    "shift-bridges-phrase",
    "shifts",
    "int8",
)
BRIDGE_WEIGHT = 1.0
"""How much a bridge token counts against a question token: at 1, the sum is what mean pooling
over "question (bridge)" read as one text would give if each part's tokens averaged to that
part's vector (they are normalised first, and without the attention between the parts, so it is
a likeness, not an identity)."""
FRAMES = TrainingSettings().shift_frames
"""The generic questions a bridge part is appended to to measure its shift: the build's own."""
MARK, UNIT = "\u2063", "\u2064"
"""Stands where the bridge's " (" was, so that the embedder can tell question from bridge; BM25
reads no word in it."""


@contextmanager
def split_bridges() -> Iterator[None]:
    """Within it, a bridged question reads "question<MARK>unit<UNIT>unit", a unit being one
    glossary term's bridges ("a; b") or one spelling correction; its words and stems, which
    BM25 reads, are the served ones."""
    from assistant.ingest import vocabulary
    from assistant.ingest.tokens import Words, read

    bridge = vocabulary.Vocabulary.bridge

    def marked(self, query: Words) -> Words:
        out = bridge(self, query)
        if out is query:
            return out
        corrected = self.corrections(query)
        searched = query.then(" ", read(" ".join(corrected))) if corrected else query
        units = [list(self._bridge_of(t)) for t in self.matched_terms(searched)]
        units += [[c] for c in corrected]
        seen = {query.text.lower()}
        kept = []
        for unit in units:  # as `bridge` keeps them: each phrase once, none the question has
            unit = [
                e
                for e in dict.fromkeys(unit)
                if e not in seen and e.lower() not in query.text.lower()
            ]
            seen.update(unit)
            if unit:
                kept.append("; ".join(unit))
        return Words(f"{query.text} {MARK}{UNIT.join(kept)}", out.words, out.stems)

    vocabulary.Vocabulary.bridge = marked  # type: ignore[method-assign]
    try:
        yield
    finally:
        vocabulary.Vocabulary.bridge = bridge  # type: ignore[method-assign]


class VectorBridges:
    """The packaged model, with a marked bridge embedded apart and added in vector space:
    `grain` "whole" (all the bridge text at once), "term" (each unit alone) or "phrase"."""

    def __init__(self, inner, grain: str, weight: float) -> None:
        self.inner, self.grain, self.weight = inner, grain, weight
        self.info = inner.info
        self.tokenizer = raw_tokenizer()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _tokens(self, text: str) -> int:
        return max(len(self.tokenizer.encode(text).ids) - 2, 1)

    def _pieces(self, bridge: str) -> list[str]:
        if self.grain == "whole":
            return [bridge.replace(UNIT, "; ")]
        units = bridge.split(UNIT)
        return units if self.grain == "term" else [p for u in units for p in u.split("; ")]

    def embed(self, texts, *, progress: bool = False) -> np.ndarray:
        split = [t.split(f" {MARK}", 1) for t in texts]
        bridges = [self._pieces(s[1]) if len(s) == 2 else [] for s in split]
        parts = list(dict.fromkeys([s[0] for s in split] + [b for bs in bridges for b in bs]))
        vectors = dict(zip(parts, self.inner.embed(parts, progress=progress), strict=True))
        out = np.empty((len(texts), self.info.dimension), dtype=np.float32)
        for i, (s, bs) in enumerate(zip(split, bridges, strict=True)):
            v = vectors[s[0]] * self._tokens(s[0])
            for b in bs:
                v = v + self.weight * self._tokens(b) * vectors[b]
            out[i] = v / np.linalg.norm(v)
        return out


class ShiftBridges(VectorBridges):
    """The packaged model, with each part of a marked bridge added as its shift on `FRAMES`
    (`grain` "term" or "phrase"), scaled by the frames' mean length over the question's."""

    def __init__(self, inner, grain: str, weight: float) -> None:
        super().__init__(inner, grain, weight)
        self.frames = inner.embed(list(FRAMES))
        self.frame_tokens = float(np.mean([self._tokens(f) for f in FRAMES]))
        self.shifts: dict[str, np.ndarray] = {}

    def _shift(self, parts: list[str]) -> None:
        new = [p for p in dict.fromkeys(parts) if p not in self.shifts]
        if new:
            texts = [f"{frame} ({p})" for p in new for frame in FRAMES]
            moved = self.inner.embed(texts).reshape(len(new), len(FRAMES), -1)
            for part, vectors in zip(new, moved, strict=True):
                self.shifts[part] = (vectors - self.frames).mean(axis=0)

    def embed(self, texts, *, progress: bool = False) -> np.ndarray:
        split = [t.split(f" {MARK}", 1) for t in texts]
        bridges = [self._pieces(s[1]) if len(s) == 2 else [] for s in split]
        self._shift([b for bs in bridges for b in bs])
        asked = self.inner.embed([s[0] for s in split], progress=progress)
        out = np.empty((len(texts), self.info.dimension), dtype=np.float32)
        for i, (s, bs) in enumerate(zip(split, bridges, strict=True)):
            scale = self.weight * self.frame_tokens / self._tokens(s[0])
            v = asked[i] + scale * sum((self.shifts[b] for b in bs), np.zeros_like(asked[i]))
            out[i] = v / np.linalg.norm(v)
        return out


def fidelity(index_dir: Path, embedder, packaged) -> dict[str, float | int]:
    """How close `embedder`'s vectors of bridged questions (the examples' and the dev part's)
    come to the model's vector of the text served with the bridges: cosine, mean and 10th
    percentile. Call within `split_bridges`. No label is read."""
    from assistant.ingest.tokens import read
    from assistant.search.loaded import load_index

    vocabulary = load_index(index_dir, packaged.info).vocabulary
    read_as = (vocabulary.bridge(read(q)).text for q in dict.fromkeys(fidelity_questions()))
    marked = [m for m in read_as if f" {MARK}" in m]
    served = [m.replace(f" {MARK}", " (").replace(UNIT, "; ") + ")" for m in marked]
    truth = packaged.embed(served)
    typed = packaged.embed([m.split(f" {MARK}", 1)[0] for m in marked])
    return {**cosines(embedder.embed(marked), truth), "typed": cosines(typed, truth)["mean"]}


def built_fidelity(index_dir: Path, packaged) -> dict[str, float | int]:
    """`fidelity` of a version built with shifts, through its own vocabulary and shifts."""
    from assistant.ingest.tokens import read
    from assistant.search import artefact
    from assistant.search.loaded import load_index

    index = load_index(index_dir, packaged.info)
    shifts = artefact.load(index.ranker_dir).shifts
    read_as = [index.vocabulary.bridge(read(q)) for q in dict.fromkeys(fidelity_questions())]
    bridged = [w for w in read_as if w.shifts]
    asked = packaged.embed([w.for_model for w in bridged])
    tokens = packaged.tokens([w.for_model for w in bridged])
    shifted = np.stack(
        [shifts.applied(v, n, w.shifts) for v, n, w in zip(asked, tokens, bridged, strict=True)]
    )
    truth = packaged.embed([w.text for w in bridged])
    return {**cosines(shifted, truth), "typed": cosines(asked, truth)["mean"]}


def fidelity_questions() -> list[str]:
    """The examples' and the dev part's questions (their labels are not read)."""
    import json

    files = [*sorted((ROOT / "corpus" / "examples").glob("*.jsonl")), ROOT / "tests/gold/dev.jsonl"]
    return [
        json.loads(line)["question"]
        for f in files
        for line in f.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def cosines(vectors: np.ndarray, truth: np.ndarray) -> dict[str, float | int]:
    """Mean and 10th-percentile cosine of each vector with its truth ("typed": the question's
    own vector, read without its bridges, for scale)."""
    found = (vectors * truth).sum(axis=1)
    return {
        "bridged_questions": len(found),
        "mean": round(float(found.mean()), 4),
        "p10": round(float(np.percentile(found, 10)), 4),
    }


def float_export(packaged) -> Path:
    """The project's own export, as the raw floor reads it (made by the packaged model's
    first load)."""
    packaged.load()
    path = export_path()
    if packaged.runtime != "onnx" or not path.is_file():
        raise SystemExit(f"the int8 variant needs the model's ONNX export at {path}")
    return path


def quantised(export: Path, target: Path) -> Path:
    """The export quantised to int8 (dynamic, per channel) by onnxruntime's own tool, in a
    process of its own so that the sessions it runs end with it."""
    out = target / "model-int8.onnx"
    script = (
        "import sys; from onnxruntime.quantization import QuantType, quantize_dynamic; "
        "quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8, "
        "per_channel=True)"
    )
    subprocess.run([sys.executable, "-c", script, str(export), str(out)], check=True)
    return out


class OnnxFile:
    """An ONNX file as the project's embedder, one text at a time (as questions are served)."""

    def __init__(self, inner, path: Path) -> None:
        self.session, self.tokenizer = raw_session(path), raw_tokenizer()
        self.inner, self.info = inner, inner.info

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def embed(self, texts, *, progress: bool = False) -> np.ndarray:
        rows = [self.session.run(None, feeds(self.tokenizer, t))[0][0] for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.info.dimension)


def model_speed(float_model: OnnxFile, int8_model: OnnxFile, texts: list[str]) -> dict:
    """Each model's call on each text, one at a time, float then int8 for each text: p50 and
    p99 in ms. Both sessions have onnxruntime's defaults, as the raw floor has."""
    times: dict[str, list[float]] = {"float": [], "int8": []}
    for text in texts[:50]:  # warm both
        float_model.embed([text]), int8_model.embed([text])
    for text in texts:
        for name, m in (("float", float_model), ("int8", int8_model)):
            inputs = feeds(m.tokenizer, text)
            started = time.perf_counter()
            m.session.run(None, inputs)
            times[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {
            "p50_ms": round(float(np.percentile(t, 50)), 3),
            "p99_ms": round(float(np.percentile(t, 99)), 3),
        }
        for name, t in times.items()
    }


def scored(index_dir: Path, embedder, settings) -> dict:
    """The test part and the voices set through the engine, and the build's cross-validation."""
    from assistant.engine import Engine
    from assistant.evaluation import evaluate, load_gold

    engine = Engine.open(index_dir, embedder, settings=settings)
    keep = ("hit@1", "hit@3", "mrr", "declined_out_of_scope", "wrongly_declined")
    row = {}
    for name in ("test", "voices"):
        metrics = evaluate(engine, load_gold(ROOT / f"tests/gold/{name}.jsonl")).metrics()
        row[name] = {k: metrics[k] for k in keep}
    cv = engine.index.manifest.training["cross_validation"]
    row["cross_validation"] = {k: cv[k] for k in keep}
    return row


def safety(embedder, settings, training, root: Path) -> dict[str, dict[str, int]]:
    """tests/test_safety.py's proposals on the corpus with the second article, built the same
    way: how many of each article's do not find the statement against the treatment first,
    undeclined (the test's known misses counted too)."""
    from assistant.engine import Engine
    from tests.test_safety import proposal_failures, proposals
    from tests.updates import build_two_articles

    built = build_two_articles(root / "two", embedder, training=training, settings=settings)
    engine = Engine.open(built, embedder, settings=settings)
    articles = sorted({p.article_id for p in engine.index.passages})
    out = {}
    for a in articles:
        missed = proposal_failures(engine, a, skip_known=False)
        out[a] = {
            "proposals": len(proposals(a)),
            "missed": len(missed),
            "declined": sum(m.startswith("declined:") for m in missed),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=VARIANTS, help="these variants only")
    parser.add_argument(
        "--index-dir", type=Path, default=ROOT / "index", help="whose served texts are timed"
    )
    parser.add_argument("--bridge-weight", type=float, default=BRIDGE_WEIGHT)
    parser.add_argument(
        "--shift-weight", type=float, default=None, help="the `shifts` variant's shift_weight"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "issue24" / "options.json")
    args = parser.parse_args()
    from assistant.build import build_corpus
    from assistant.settings import current

    settings = current()
    packaged = model(settings)
    scratch = Path(tempfile.mkdtemp(prefix="bench-options-"))
    rows: dict[str, dict] = {}
    int8: Path | None = None
    try:
        if "int8" in (args.only or VARIANTS):
            # timed first, in a process nothing has trained in yet
            asked = list(dict.fromkeys(q for q, _ in questions()))
            export = float_export(packaged)
            int8 = quantised(export, scratch)
            speed = model_speed(
                OnnxFile(packaged, export),
                OnnxFile(packaged, int8),
                RawFloor.served_texts(args.index_dir, asked),
            )
            print("model call on the served texts:", speed, flush=True)
        for variant in args.only or VARIANTS:
            training, embedder, patched = None, packaged, nullcontext()
            if variant == "no-bridges":
                training = TrainingSettings(expand=False)
            elif variant == "shifts":
                weight = {} if args.shift_weight is None else {"shift_weight": args.shift_weight}
                training = TrainingSettings(bridges="shifts", **weight)
            elif variant.startswith(("vector-bridges", "shift-bridges")):
                patched = split_bridges()
                kind, _, grain = variant.partition("-bridges")
                kind_of = ShiftBridges if kind == "shift" else VectorBridges
                embedder = kind_of(packaged, grain.lstrip("-") or "whole", args.bridge_weight)
            elif variant == "int8" and int8 is not None:
                embedder = OnnxFile(packaged, int8)
            started = time.perf_counter()
            index_dir = Path(tempfile.mkdtemp(dir=scratch))
            with patched:
                build_corpus(
                    ROOT / "corpus", embedder, index_dir, training=training, settings=settings
                )
                rows[variant] = scored(index_dir, embedder, settings)
                if isinstance(embedder, VectorBridges):
                    rows[variant]["fidelity"] = fidelity(index_dir, embedder, packaged)
                elif variant == "shifts":
                    rows[variant]["fidelity"] = built_fidelity(index_dir, packaged)
                rows[variant]["safety"] = safety(
                    embedder, settings, training, Path(tempfile.mkdtemp(dir=scratch))
                )
            rows[variant]["seconds"] = round(time.perf_counter() - started, 1)
            if variant == "int8":
                rows[variant]["model_call_on_served_texts"] = speed
            shutil.rmtree(index_dir, ignore_errors=True)
            print(variant, rows[variant], flush=True)
    finally:  # what was measured is written, even when a variant failed
        shutil.rmtree(scratch, ignore_errors=True)
        if rows:
            write(
                args.out,
                {
                    "benchmark": "issue 24's options and their quality",
                    "machine": machine(),
                    "variants": rows,
                },
            )


if __name__ == "__main__":
    main()
