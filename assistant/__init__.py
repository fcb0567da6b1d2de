"""An extractive retrieval assistant over reviewed medical articles.

It answers a clinician's question with ranked passages quoted from the article, each with
its citations, and always with the article's professional disclaimer. It never writes text
of its own.
"""

__version__ = "0.1.0"
