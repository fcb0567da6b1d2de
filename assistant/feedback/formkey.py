"""The key that signs the page's form tokens, kept beside the feedback store."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from assistant.feedback.store import FeedbackError

SECRET_SUFFIX = ".secret"
KEY_BYTES = 32


def secret_for(store_path: Path) -> bytes:
    """The key that signs the page's form tokens, kept beside the store (created on first use,
    readable by its owner only), so tokens survive a restart and every worker shares them."""
    path = store_path.with_name(store_path.name + SECRET_SUFFIX)
    try:
        there = path.exists()  # a folder the server may not enter raises, it does not say no
    except OSError as exc:
        raise FeedbackError(f"{path}: cannot reach the form-token key ({exc})") from None
    if not there:
        scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES).hex())
                handle.flush()
                os.fsync(handle.fileno())
            try:  # whole or not at all; the first worker's key wins, the others read it
                os.link(scratch, path)
            except FileExistsError:
                pass
        except OSError as exc:
            raise FeedbackError(f"{path}: cannot create the form-token key ({exc})") from None
        finally:
            with contextlib.suppress(OSError):  # never in place of the reason above
                scratch.unlink(missing_ok=True)
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise FeedbackError(f"{path}: cannot read the form-token key ({exc}); remove it") from None
    if len(key) != KEY_BYTES:
        raise FeedbackError(f"{path}: the form-token key is damaged; remove it to make a new one")
    return key
