"""Errors a user can act on. Each says what is wrong and, where it can, where and what to do."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: an error whose message is meant for a person, not a stack trace."""


class ArticleError(AssistantError):
    """An article file that cannot be read as an article; names the file and, where known, the line."""

    def __init__(self, path: str, message: str, *, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ModelError(AssistantError):
    """The embedding model is missing, damaged or not the one expected."""


class IndexStoreError(AssistantError):
    """An index directory that is missing, damaged or does not match its manifest."""


class NotFoundError(AssistantError):
    """What a request names (a judgement, a passage) does not exist; the web answers 404."""


class QueryError(AssistantError):
    """A question or request parameter outside the documented limits."""
