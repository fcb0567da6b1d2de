"""The same model exported to ONNX and run by onnxruntime: the query embedding, three times faster.

PyTorch spends most of a short question's 20-odd ms in per-call overhead; onnxruntime runs the
identical graph (token embeddings, mean pooling over the attention mask, L2 normalisation) in
about a third of that, with vectors equal to PyTorch's within 1e-6, so rankings do not change.

The export is made once, on this machine, from the installed weights (nothing is downloaded) and
kept in `<index dir>/models/<weights sha>/` (the graph, and its weights in a file of their own
that onnxruntime maps into memory), beside a record of what it was made from and the SHA-256
of both files. A record that does not match (other weights, a truncated or edited file) means the
export is made again; the weights themselves were already checked by `embedding.verify_model`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embed.hashing import file_sha256
from assistant.embed.offline import stay_offline

log = logging.getLogger("mmn_assistant.embedding")

EXPORT_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"
"""The weights, beside the graph: onnxruntime maps this file instead of copying it, so every
process serving on one machine shares one copy (measured: 57 MiB private per process instead
of 129, at the same speed)."""
PACKED_FILE = "packed.onnx"
"""The same model traced for packed rows: several questions end to end in one row, each
attending to its own tokens only (a block-diagonal mask), its positions counted from its own
start, and pooled over its own tokens. It reads the export's weights file (no second copy on
disk or in the page cache); its session, opened by a server's first merged call, keeps its own
prepared weights (30-70 MiB a worker). A merged call of questions (a server under load)
streams the weights once and pads nothing: two one-thread processes embed 4 questions a call
at 381-393 texts a second against 286-298 one at a time (issue 24, bench/README.md)."""
RECORD_FILE = "export.json"
EXPORT_FORMAT = 3
"""Raised when what is exported changes, so older exports are made again (2: weights in
their own file; 3: the packed graph beside the export)."""
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
"""The graph's inputs, in the order the export traced them."""
PACKED_INPUTS = ("input_ids", "position_ids", "segment")
"""The packed graph's inputs: one row of tokens, each token's position within its question,
and which question (0, 1, ...) each token belongs to."""
PACK_TOKENS = 256
"""The most tokens one packed row carries; a longer merged call runs as several rows. Attention
still runs over the whole row (masked), so a longer row costs more a text: two one-thread
processes embed served questions packed 4, 8, 12, 16 and 24 a row at 366, 374, 362, 347 and
307 a second (about 21 tokens each). A longer text goes in a row of its own."""
COUNTED_TEXTS = 256
"""How many texts' token counts `OnnxModel` remembers after embedding them."""


def exportable(model_dir: Path) -> bool:
    """Whether the directory's pipeline is what the export reproduces: a BERT-style transformer,
    mean pooling, normalisation. Anything else keeps PyTorch, which runs any pipeline."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        pooling = next(m["path"] for m in modules if str(m.get("type", "")).endswith("Pooling"))
        config = json.loads((model_dir / pooling / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return False
    modes = {k for k, v in config.items() if k.startswith("pooling_mode") and v}
    return (
        kinds == ["Transformer", "Pooling", "Normalize"]
        and modes == {"pooling_mode_mean_tokens"}
        and (model_dir / "tokenizer.json").is_file()
    )


def max_tokens(model_dir: Path) -> int:
    """The model's input length in tokens; longer texts are cut, as sentence-transformers does."""
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 256


def export(model_dir: Path, weights_sha256: str, target: Path) -> Path:
    """Export the model to `target/model.onnx` (and its weights file) with PyTorch (seconds,
    once) and record it."""
    # Before the imports: huggingface_hub reads the offline switch when it is first imported.
    stay_offline()
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    transformer = model[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    sample = model.tokenizer(["a sample question"], return_tensors="pt")
    packed_sample = pack([model.tokenizer(t)["input_ids"] for t in ("a sample", "question two")])
    target.mkdir(parents=True, exist_ok=True)
    # Made in a scratch directory (the graph names its weights file, so both are written
    # under their final names there), then moved in, weights first: a reader never sees half
    # an export, and two processes exporting at once both end with a whole one.
    scratch = Path(tempfile.mkdtemp(dir=target, prefix=".export-"))
    try:
        traced = scratch / "traced.onnx"
        # The tracer warns about shapes it fixes; the export is checked against PyTorch's
        # vectors in the tests, so its warnings only alarm the editor running `build`.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(),
                tuple(sample[name] for name in INPUTS),
                str(traced),
                input_names=list(INPUTS),
                output_names=["embedding"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in INPUTS}
                | {"embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
            torch.onnx.export(
                Packed(transformer).eval(),
                tuple(torch.from_numpy(packed_sample[name]) for name in PACKED_INPUTS),
                str(scratch / "packed-traced.onnx"),
                input_names=list(PACKED_INPUTS),
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {1: "tokens"},
                    "position_ids": {1: "tokens"},
                    "segment": {0: "tokens"},
                    "embedding": {0: "texts"},
                },
                opset_version=17,
                dynamo=False,
            )
        import onnx

        onnx.save_model(
            onnx.load(str(traced)),
            str(scratch / EXPORT_FILE),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=WEIGHTS_FILE,
            size_threshold=1024,
        )
        packed = onnx.load(str(scratch / "packed-traced.onnx"))
        share_weights(packed, scratch / EXPORT_FILE)
        onnx.save_model(packed, str(scratch / PACKED_FILE))
        record = {
            "format": EXPORT_FORMAT,
            "weights_sha256": weights_sha256,
            "onnx_sha256": file_sha256(scratch / EXPORT_FILE),
            "data_sha256": file_sha256(scratch / WEIGHTS_FILE),
            "packed_sha256": file_sha256(scratch / PACKED_FILE),
            "torch": torch.__version__,
            "max_tokens": max_tokens(model_dir),
        }
        # onnx writes the weights owner-only; the server may run as another user than `build`
        mode = (scratch / EXPORT_FILE).stat().st_mode & 0o777
        os.chmod(scratch / WEIGHTS_FILE, mode)
        os.chmod(scratch / PACKED_FILE, mode)
        os.replace(scratch / WEIGHTS_FILE, target / WEIGHTS_FILE)
        os.replace(scratch / PACKED_FILE, target / PACKED_FILE)
        os.replace(scratch / EXPORT_FILE, target / EXPORT_FILE)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    scratch_record = target / f".{RECORD_FILE}.{os.getpid()}"
    scratch_record.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(scratch_record, target / RECORD_FILE)
    log.info("exported the model to ONNX at %s", target / EXPORT_FILE)
    return target / EXPORT_FILE


def Packed(transformer: Any) -> Any:  # noqa: N802 - a class made on demand
    """The transformer over one packed row (`PACKED_FILE`): each token attends to the tokens
    of its own question, and each question is pooled over its own tokens, then normalised."""
    import torch

    class Module(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, position_ids, segment):
            same = segment[:, None] == segment[None, :]
            mask = torch.where(same, 0.0, torch.finfo(torch.float32).min)[None, None]
            tokens = self.transformer(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=position_ids,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state[0]
            owner = segment[None, :] == torch.arange(segment.max() + 1)[:, None]
            owner = owner.to(tokens.dtype)
            pooled = owner @ tokens / owner.sum(1, keepdim=True)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Module()


def pack(rows: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """The packed graph's inputs for token rows (each with its own markers), end to end."""
    ids = np.fromiter((t for r in rows for t in r), dtype=np.int64)
    positions = np.concatenate([np.arange(len(r), dtype=np.int64) for r in rows])
    segment = np.repeat(np.arange(len(rows), dtype=np.int64), [len(r) for r in rows])
    return {"input_ids": ids[None], "position_ids": positions[None], "segment": segment}


def share_weights(graph: Any, export_path: Path) -> None:
    """Point `graph`'s weights at the export's weights file wherever the export holds the same
    tensor, byte for byte (both are traced from one model); the rest stay in the graph."""
    import hashlib

    import onnx
    from onnx.external_data_helper import set_external_data

    stored = {}
    data = (export_path.parent / WEIGHTS_FILE).read_bytes()
    for tensor in onnx.load(str(export_path), load_external_data=False).graph.initializer:
        where = {e.key: e.value for e in tensor.external_data}
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            offset, length = int(where.get("offset", 0)), int(where["length"])
            key = hashlib.sha256(data[offset : offset + length]).hexdigest()
            stored[(tensor.data_type, tuple(tensor.dims), key)] = (offset, length)
    for tensor in graph.graph.initializer:
        if not tensor.HasField("raw_data"):
            continue
        same = (tensor.data_type, tuple(tensor.dims), hashlib.sha256(tensor.raw_data).hexdigest())
        if same in stored:
            offset, length = stored[same]
            set_external_data(tensor, WEIGHTS_FILE, offset=offset, length=length)
            tensor.data_location = onnx.TensorProto.EXTERNAL
            tensor.ClearField("raw_data")


def checked_export(target: Path, weights_sha256: str) -> Path | None:
    """The export in `target` if its record says it was made from these weights and the file is
    the one recorded; None otherwise (missing, other weights, damaged)."""
    try:
        record = json.loads((target / RECORD_FILE).read_text(encoding="utf-8"))
        path = target / EXPORT_FILE
        if (
            record.get("format") == EXPORT_FORMAT
            and record.get("weights_sha256") == weights_sha256
            and record.get("onnx_sha256") == file_sha256(path)
            and record.get("data_sha256") == file_sha256(target / WEIGHTS_FILE)
            and record.get("packed_sha256") == file_sha256(target / PACKED_FILE)
        ):
            return path
    except (OSError, ValueError, AttributeError):
        pass
    return None


class OnnxModel:
    """Tokenizer plus ONNX session: texts in, normalised vectors out, no PyTorch."""

    def __init__(self, model_dir: Path, onnx_path: Path, *, threads: int, spin: bool) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_tokens(model_dir))
        self._tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Both cores for one question: measured faster than one, and requests rarely overlap;
        # with several workers, each takes its share so that together they do not oversubscribe.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads pick up each operator's work at once (0.6 ms of a question's 3.6
        # on two cores), but a pool left spinning after a call takes the cores from the rest
        # of the answer and from other processes: they spin during a call and stop with it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._open_packed = partial(
            onnxruntime.InferenceSession,
            str(onnx_path.parent / PACKED_FILE),
            options,
            providers=["CPUExecutionProvider"],
        )
        self._packed: Any = None
        """The packed graph's session, opened by the first merged call (`packed_session`)."""
        self._packed_lock = threading.Lock()
        self._packed_failed = False
        self._counted: dict[str, int] = {}
        """Token counts of the texts embedded last: a question served with shifts is counted
        right after its model call, and tokenising it again cost 65 us of a 4 ms answer."""

    def tokens(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the model reads in each text, its two markers left out."""
        counted = [self._counted.get(text) for text in texts]
        if None not in counted:
            return counted  # type: ignore[return-value]
        if len(texts) == 1:
            return [len(self._tokenizer.encode(texts[0]).ids) - 2]
        return [len(e.ids) - 2 for e in self._tokenizer.encode_batch(list(texts))]

    def _count(self, texts: Sequence[str], encodings: Sequence[Any]) -> None:
        """Remember the token counts of texts just embedded (a bounded memory)."""
        if len(self._counted) + len(texts) > COUNTED_TEXTS:
            self._counted = {}
        for text, encoding in zip(texts, encodings, strict=True):
            self._counted[text] = len(encoding.ids) - 2

    def embed(self, texts: Sequence[str], batch_size: int, *, progress: bool = False) -> np.ndarray:
        """Vectors of `texts`, in batches of similar length; `progress` shows a bar (a build)."""
        if len(texts) == 1:  # a question: no batch to plan, no thread pool to tokenise
            encoding = self._tokenizer.encode(texts[0])
            self._count(texts, [encoding])
            feeds = {
                "input_ids": np.array([encoding.ids], dtype=np.int64),
                "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
            }
            return self._session.run(None, feeds)[0]
        encodings = self._tokenizer.encode_batch(list(texts))
        if len(texts) <= COUNTED_TEXTS:  # a batch of questions, not a build's passages
            self._count(texts, encodings)
        chunks = similar_lengths([len(e.ids) for e in encodings], batch_size)
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc="embedding", unit="batch")
        out: np.ndarray | None = None
        for chunk in chunks:
            width = len(encodings[chunk[0]].ids)
            feeds = {name: np.zeros((len(chunk), width), dtype=np.int64) for name in INPUTS}
            for row, i in enumerate(chunk):
                e = encodings[i]
                n = len(e.ids)
                feeds["input_ids"][row, :n] = e.ids
                feeds["attention_mask"][row, :n] = e.attention_mask
                feeds["token_type_ids"][row, :n] = e.type_ids
            vectors = self._session.run(None, feeds)[0]
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[chunk] = vectors
        assert out is not None
        return out

    def packed_session(self) -> Any:
        """The packed graph's session, opened once, on first use: only a server under load
        needs it, and opening it (75-80 ms, and its own prepared weights) would slow every
        CLI call, eval and build. None if it cannot be opened (said once)."""
        if self._packed is None and not self._packed_failed:
            with self._packed_lock:  # merged calls may run on two threads at once
                if self._packed is None and not self._packed_failed:
                    try:
                        self._packed = self._open_packed()
                    except Exception as exc:  # noqa: BLE001 - any failure leaves padding
                        self._packed_failed = True
                        log.warning("questions asked together will not be packed (%s)", exc)
        return self._packed

    def embed_together(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of a few questions from one pass over the weights: packed rows of at most
        `PACK_TOKENS` tokens, nothing padded. Each vector is the one `embed([text])` gives,
        within float rounding (1e-6). Without the packed graph: `embed`'s padded batches."""
        session = self.packed_session() if len(texts) > 1 else None
        if session is None:
            return self.embed(texts, len(texts))
        encodings = self._tokenizer.encode_batch(list(texts))
        self._count(texts, encodings)
        rows: list[list[list[int]]] = [[]]
        width = 0
        for encoding in encodings:  # in order, a new row where the next would overflow
            if rows[-1] and width + len(encoding.ids) > PACK_TOKENS:
                rows.append([])
                width = 0
            rows[-1].append(encoding.ids)
            width += len(encoding.ids)
        vectors = [session.run(None, pack(row))[0] for row in rows]
        return vectors[0] if len(vectors) == 1 else np.concatenate(vectors)


PADDING_SHARE = 0.6
"""A text joins a batch while it is at least this share of the batch's longest: every row is
padded to the longest, so mixing a 10-token question with a 49-token history costs more than
two calls. Measured on the gold questions in groups of 8 and 16 (one ONNX thread): 8.1 ms of
CPU a question at 0.6, 8.9 at 0.8, 11.0 with no cut (one padded call), 11.4 one at a time."""


def similar_lengths(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions grouped for the model: longest first, at most `batch_size` a group, and a new
    group where a text falls under `PADDING_SHARE` of its group's longest."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        group = groups[-1] if groups else None
        if (
            group is None
            or len(group) >= batch_size
            or lengths[i] < PADDING_SHARE * lengths[group[0]]
        ):
            groups.append([i])
        else:
            group.append(i)
    return groups
