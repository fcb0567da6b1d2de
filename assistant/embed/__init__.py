"""Embed: the model seam (all-MiniLM-L6-v2, checked against its official hash), its ONNX
runtime, the batching of concurrent questions, the question-vector cache and the vector
cache of incremental builds."""

from assistant.embed.batching import BatchingEmbedder, serving
from assistant.embed.embedding import (
    CachingEmbedder,
    Embedder,
    ModelInfo,
    SentenceTransformerEmbedder,
)

__all__ = [
    "BatchingEmbedder",
    "CachingEmbedder",
    "Embedder",
    "ModelInfo",
    "SentenceTransformerEmbedder",
    "serving",
]
