"""Ingest: article files (the site's export, Markdown) into passages with their citation
metadata, the corpus's vocabulary, and the example questions kept beside the articles."""

from assistant.ingest.corpus import load_article, load_corpus
from assistant.ingest.examples import Example, Examples, load_examples
from assistant.ingest.glossary import load_synonyms
from assistant.ingest.tokens import tokenize
from assistant.ingest.vocabulary import Vocabulary

__all__ = [
    "Example",
    "Examples",
    "Vocabulary",
    "load_article",
    "load_corpus",
    "load_examples",
    "load_synonyms",
    "tokenize",
]
