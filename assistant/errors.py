"""Errors a user can act on. Each says what is wrong and, where it can, where and what to do."""

from __future__ import annotations

import errno
import re


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
    """A question or request parameter outside the documented limits; `loc` names the field
    ("article", or "history" and an index), as a validation error's does."""

    def __init__(self, message: str, *, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


_HINTS = {
    errno.ENOSPC: "free space on that disk and try again",
    errno.EDQUOT: "free space within the user's quota and try again",
    errno.EACCES: "give the user running this command access to it, or run it as its owner",
    errno.EPERM: "give the user running this command access to it, or run it as its owner",
    errno.EROFS: "make it writable, or work on a copy",
    errno.ENOENT: "it does not exist (a link to nothing?); check the path",
    errno.EISDIR: "it is a folder where a file is expected",
    errno.ENOTDIR: "a file stands where a folder is expected",
}
_ERRNO = re.compile(r"\[Errno (\d+)\] ([^:'\]]+)")


def os_problem(exc: OSError, *, named: bool = True) -> str:
    """An operating system's error as one line a person can act on: the file (unless the
    caller names it, `named=False`), what went wrong, what to do. `shutil.copytree`'s error
    carries its first failure in a list."""
    filename, number, reason = exc.filename, exc.errno, exc.strerror
    if number is None and (found := _ERRNO.search(str(exc))):
        number, reason = int(found.group(1)), found.group(2).strip()
    if filename is None and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        filename = exc.args[0][0][1] if len(exc.args[0][0]) > 1 else None
    where = f"{filename}: " if filename and named else ""
    hint = _HINTS.get(number or -1)
    return f"{where}{reason or exc}" + (f"; {hint}" if hint else "")
