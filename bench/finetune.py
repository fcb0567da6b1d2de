"""Full fine-tuning of all-MiniLM-L6-v2 beside the query adapter: does it earn its cost?

Holds out one fold of the examples (a fifth, by the same hash as the build's cross-validation)
and the test part of the gold set. On the other four folds it
1. trains the ranker (adapter, passage offsets, "not covered" vectors) on the packaged model;
2. fine-tunes the model with sentence-transformers' own trainer (MultipleNegativesRankingLoss on
   question/passage pairs, no duplicate passages in a batch, lr 3e-5, batch 16, 2 epochs), then
   trains the same ranker on the fine-tuned model's vectors;
and scores both on the held-out fold and the test part, with the time each took.

    .venv/bin/pip install datasets accelerate   # the trainer's own dependencies
    .venv/bin/python bench/finetune.py

Writes bench/results/finetune.json; the fine-tuned model is written to a temporary directory
and deleted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.embed.embedding import SentenceTransformerEmbedder, packaged_model_path  # noqa: E402
from assistant.embed.windows import embed_windowed  # noqa: E402
from assistant.evaluation import load_gold  # noqa: E402
from assistant.ingest.corpus import load_corpus  # noqa: E402
from assistant.ingest.examples import Example, load_examples  # noqa: E402
from assistant.ingest.glossary import load_synonyms  # noqa: E402
from assistant.ingest.vocabulary import Vocabulary  # noqa: E402
from assistant.search.lexical import LexicalIndex  # noqa: E402
from assistant.search.ranker import query_texts  # noqa: E402
from assistant.settings import TrainingSettings  # noqa: E402
from assistant.train import crossval  # noqa: E402
from assistant.train.stage import (  # noqa: E402
    embed_examples,
    example_key,
    search_texts,
    training_data,
)
from bench.common import machine  # noqa: E402


class _Model:
    """A sentence-transformers model as the project's embedder (for vectors only)."""

    def __init__(self, model) -> None:
        self._model = model
        self.info = SentenceTransformerEmbedder().info

    def embed(self, texts, *, progress: bool = False) -> np.ndarray:
        return np.asarray(
            self._model.encode(list(texts), normalize_embeddings=True, batch_size=64),
            dtype=np.float32,
        )

    def input_tokens(self) -> int:
        """As the project's embedder says it, so a long passage is embedded in windows."""
        return self._model.max_seq_length - 2

    def tokens(self, texts) -> list[int]:
        limit = self._model.max_seq_length
        encoded = self._model.tokenizer(list(texts), truncation=True, max_length=limit)
        return [len(ids) - 2 for ids in encoded["input_ids"]]


def _score(embedder, passages, train, held, tests, lexical, vocabulary, settings):
    """Train the ranker on `train` with this embedder's vectors; figures on held and tests."""
    vectors = embed_windowed(embedder, [p.index_text for p in passages]).vectors
    started = time.perf_counter()

    def data(examples):
        texts = search_texts(examples, settings, vocabulary)
        q, c, h, _, _ = embed_examples(texts, embedder, {})
        return training_data(examples, texts, q, c, h, vectors, lexical, settings)

    trained = crossval.train(data(train), [example_key(e) for e in train], settings)
    seconds = time.perf_counter() - started
    ranker = trained.ranker
    out = {"ranker_seconds": round(seconds, 1), "cross_validation": trained.cross_validation}
    for name, examples in (("held_out_fold", held), ("test_part", tests)):
        d = data(examples)
        scored = crossval.score(ranker, d, range(len(d)))
        out[name] = crossval.figures(
            scored,
            ranker.lexical_weight,
            ranker.context_lexical_weight,
            ranker.threshold,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "finetune.json")
    args = parser.parse_args()
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from sentence_transformers.training_args import BatchSamplers

    corpus = ROOT / "corpus"
    articles = load_corpus(corpus)
    passages = [p for a in articles for p in a.passages]
    examples = load_examples(
        corpus, articles, [p.text for p in passages], [p.article_id for p in passages]
    )
    usable = list(examples.usable)
    settings = TrainingSettings()
    folds = crossval.folds_of([example_key(e) for e in usable], settings.folds)
    train = [e for e, f in zip(usable, folds, strict=True) if f != 0]
    held = [e for e, f in zip(usable, folds, strict=True) if f == 0]
    texts = [p.text.lower() for p in passages]
    tests = [
        Example(
            g.question, g.history, g.gold, None, "test", 0,
            tuple(i for i, t in enumerate(texts) if any(x.lower() in t for x in g.gold)),
        )
        for g in load_gold(ROOT / "tests" / "gold" / "test.jsonl")
    ]  # fmt: skip
    vocabulary = Vocabulary.of_corpus(articles, load_synonyms(corpus))
    lexical = LexicalIndex.build([p.index_text for p in passages])
    result = {
        "benchmark": "fine-tuning against the adapter",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "train_examples": len(train),
        "held_out_examples": len(held),
        "test_questions": len(tests),
    }
    base = SentenceTransformer(str(packaged_model_path()), device="cpu", local_files_only=True)
    result["adapter_on_packaged_model"] = _score(
        _Model(base), passages, train, held, tests, lexical, vocabulary, settings
    )
    print("adapter on the packaged model:", json.dumps(result["adapter_on_packaged_model"]))

    pairs = {"anchor": [], "positive": []}
    for example in train:
        if example.answers:
            text, context = query_texts(example.question, example.history, 2, vocabulary)
            pairs["anchor"].append(f"{context} {text}" if context else text)
            pairs["positive"].append(passages[example.answers[0]].index_text)
    output = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    model = SentenceTransformer(str(packaged_model_path()), device="cpu", local_files_only=True)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=SentenceTransformerTrainingArguments(
            output_dir=str(output),
            num_train_epochs=args.epochs,
            per_device_train_batch_size=16,
            learning_rate=3e-5,
            warmup_ratio=0.1,
            seed=settings.seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            report_to=[],
            logging_steps=50,
            use_cpu=True,
        ),
        train_dataset=Dataset.from_dict(pairs),
        loss=losses.MultipleNegativesRankingLoss(model),
    )
    started = time.perf_counter()
    trainer.train()
    result["fine_tune_seconds"] = round(time.perf_counter() - started, 1)
    result["adapter_on_fine_tuned_model"] = _score(
        _Model(model), passages, train, held, tests, lexical, vocabulary, settings
    )
    print(f"fine-tuning took {result['fine_tune_seconds']} s")
    print("adapter on the fine-tuned model:", json.dumps(result["adapter_on_fine_tuned_model"]))
    shutil.rmtree(output, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
