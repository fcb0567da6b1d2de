"""`build --fine-tune`: the whole model fine-tuned on the example questions, kept in the version.

Measured beside the adapter (`bench/finetune.py`, docs/retrieval.md): on examples held out from
both, fine-tuning then training the adapter on the fine-tuned vectors ranked 0.883 first against
0.834 for the adapter alone, and 0.934 against 0.920 on the test part; it costs about 2.5 minutes
more per build on 2 cores. That is not beyond noise enough to be the default (and a fresh
clone's `make run` must stay under 3 minutes), so it is an option.

The model is trained with sentence-transformers' own trainer (MultipleNegativesRankingLoss on
question/passage pairs, no passage twice in a batch), from the packaged weights, never from a
download. The result is kept in the version's `model/` directory with its provenance (base
model and its hash, the examples' hash, the settings), exported to ONNX like the base model,
and reused by a rebuild whose inputs are unchanged (`index/cache/fine-tuned/<key>/`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistant.embed.vectorcache import CACHE_DIR
from assistant.errors import ModelError
from assistant.ingest.examples import Examples
from assistant.ingest.vocabulary import Vocabulary
from assistant.records import ModelInfo, Passage
from assistant.search.ranker import query_texts
from assistant.settings import FineTuneSettings

FINE_TUNED_CACHE = "fine-tuned"
FINE_TUNE_VERSION = 1


def _pairs(
    examples: Examples, passages: Sequence[Passage], settings: FineTuneSettings, vocabulary
) -> dict[str, list[str]]:
    """(question as searched, the passage's indexed text) for every in-scope example."""
    anchors, positives = [], []
    for example in examples.in_scope:
        text, context = query_texts(
            example.question, example.history, settings.history_turns, vocabulary
        )
        anchors.append(f"{context} {text}" if context else text)
        positives.append(passages[example.answers[0]].index_text)
    return {"anchor": anchors, "positive": positives}


def _key(
    examples: Examples,
    passages: Sequence[Passage],
    base: ModelInfo,
    settings: FineTuneSettings,
    vocabulary: Vocabulary | None,
    pairs: dict[str, list[str]],
) -> str:
    """Everything the fine-tuned model depends on: the questions are read with the vocabulary,
    so an edited synonyms file trains afresh, and so does a change in how they are read."""
    data = {
        "version": FINE_TUNE_VERSION,
        "examples": examples.sha256,
        "passages": [p.id for p in passages],
        "base": base.weights_sha256,
        "settings": asdict(settings),
        "vocabulary": None if vocabulary is None else vocabulary.to_json(),
        "pairs": pairs,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def fine_tuned_model(
    examples: Examples,
    passages: Sequence[Passage],
    base: ModelInfo,
    index_dir: Path,
    vocabulary: Vocabulary | None,
    settings: FineTuneSettings | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> tuple[Path, dict[str, Any]]:
    """The fine-tuned model's directory (trained now, or reused) and its provenance."""
    settings = settings or FineTuneSettings()
    if not examples.in_scope:
        raise ModelError(
            "--fine-tune needs example questions (corpus/examples/<article-id>.jsonl); "
            "there are none"
        )
    pairs = _pairs(examples, passages, settings, vocabulary)
    key = _key(examples, passages, base, settings, vocabulary, pairs)
    folder = index_dir / CACHE_DIR / FINE_TUNED_CACHE
    target = folder / key
    provenance_file = target / "provenance.json"
    if provenance_file.is_file():
        return target, {**json.loads(provenance_file.read_text()), "reused": True}
    try:
        from datasets import Dataset
        from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer

        try:  # sentence-transformers 6 moved these; older releases have them at the top
            from sentence_transformers.sentence_transformer.losses import (
                MultipleNegativesRankingLoss,
            )
            from sentence_transformers.sentence_transformer.training_args import (
                BatchSamplers,
                SentenceTransformerTrainingArguments,
            )
        except ImportError:
            from sentence_transformers import SentenceTransformerTrainingArguments
            from sentence_transformers.losses import MultipleNegativesRankingLoss
            from sentence_transformers.training_args import BatchSamplers
    except ImportError as exc:
        raise ModelError(
            f"--fine-tune needs sentence-transformers' trainer ({exc}); run `make install`"
        ) from None
    say(f"fine-tuning {base.name} on {len(examples.in_scope)} examples (about 2-3 minutes)")
    started = time.perf_counter()
    work = index_dir / CACHE_DIR / f".fine-tune-{key}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    model = SentenceTransformer(base.path, device="cpu", local_files_only=True)
    steps = -(-len(pairs["anchor"]) // settings.batch_size) * settings.epochs
    trainer = SentenceTransformerTrainer(
        model=model,
        args=SentenceTransformerTrainingArguments(
            output_dir=str(work / "checkpoints"),
            num_train_epochs=settings.epochs,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            warmup_steps=int(settings.warmup_ratio * steps),
            seed=settings.seed,
            data_seed=settings.seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
        ),
        train_dataset=Dataset.from_dict(pairs),
        loss=MultipleNegativesRankingLoss(model),
    )
    trainer.train()
    saved = work / "model"
    model.save(str(saved))
    provenance = {
        "base_model": base.name,
        "base_weights_sha256": base.weights_sha256,
        "examples_sha256": examples.sha256,
        "examples": len(examples.in_scope),
        "settings": asdict(settings),
        "loss": "MultipleNegativesRankingLoss (sentence-transformers trainer)",
        "seconds": round(time.perf_counter() - started, 1),
    }
    shutil.rmtree(folder, ignore_errors=True)  # one fine-tuned model kept: the latest
    folder.mkdir(parents=True, exist_ok=True)
    shutil.move(str(saved), str(target))
    (target / "provenance.json").write_text(json.dumps(provenance, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return target, {**provenance, "reused": False}
