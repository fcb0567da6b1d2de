"""The order versions were published in, and what follows from it: which version a rollback
publishes, and which versions pruning keeps (`index/PUBLISHED`)."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from assistant.errors import IndexStoreError
from assistant.store.directory import (
    HISTORY,
    KEEP_VERSIONS,
    MANIFEST,
    VERSIONS,
    damage,
    publish,
    published_version,
    versions,
    write_synced,
)
from assistant.store.manifest import read_manifest

HISTORY_LINES = 50
"""How much of the publishing history `HISTORY` keeps: what a rollback walks back along. Build
time is not that order once a rollback has withdrawn a version: the next build is newer than
the version withdrawn, yet the way back from it leads past it."""


def published_history(index_dir: Path) -> list[str]:
    """The kept versions in the order they were published, the published one last: the way a
    rollback goes back. Without a readable `PUBLISHED` (an index built before it was kept),
    build time up to the published version, as rollbacks went before."""
    kept = versions(index_dir)
    current = published_version(index_dir)
    try:
        lines = (index_dir / HISTORY).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        lines = [v for v in kept if current is None or v <= current]
    present = set(kept)
    history: list[str] = []
    for version in lines:
        if version in present:
            if version in history:  # published again by a rollback: the latest place counts
                history.remove(version)
            history.append(version)
    if current is not None and current in present and history[-1:] != [current]:
        if current in history:
            history.remove(current)
        history.append(current)  # a pointer set by hand is the published version all the same
    return history


def record(index_dir: Path, history: list[str]) -> None:
    """Write the publishing history (a rollback's way back) in one atomic step. Only a
    rollback's way back is lost if it cannot be written: the version stays published."""
    temporary = index_dir / f"{HISTORY}.{secrets.token_hex(4)}.tmp"
    try:
        write_synced(temporary, ("\n".join(history[-HISTORY_LINES:]) + "\n").encode())
        os.replace(temporary, index_dir / HISTORY)
    except (OSError, IndexStoreError):
        temporary.unlink(missing_ok=True)


def prune(index_dir: Path, keep: int = KEEP_VERSIONS) -> list[str]:
    """Delete all but the newest `keep` versions and the last `keep` published (what a
    rollback goes back to), never the published one; returns the deleted."""
    current = published_version(index_dir)
    listed = versions(index_dir)
    kept = {current, *published_history(index_dir)[-keep:], *listed[-keep:]}
    old = [v for v in listed if v not in kept]
    root = index_dir / VERSIONS
    if root.is_dir():  # what an earlier pruning left half deleted, without its manifest
        old += [
            p.name
            for p in root.iterdir()
            if p.is_dir() and not (p / MANIFEST).exists() and p.name != current
        ]
    failed: list[OSError] = []
    for version in old:  # the manifest first: a version half deleted is no version to serve
        try:
            (index_dir / VERSIONS / version / MANIFEST).unlink(missing_ok=True)
            shutil.rmtree(index_dir / VERSIONS / version)
        except OSError as exc:
            failed.append(exc)
    if failed:  # the build warns with it, and the next build tries again
        raise failed[0]
    return old


def way_back(index_dir: Path) -> list[str]:
    """The versions a rollback can go back to, the one it publishes last: those published
    before the published one, or with none published (the pointer deleted), all of them."""
    history = published_history(index_dir)
    return history[:-1] if published_version(index_dir) is not None else history


def rollback(index_dir: Path) -> str:
    """Publish the version published before the published one; returns its name. With no
    version published (the pointer deleted), the one published last."""
    current = published_version(index_dir)
    earlier = way_back(index_dir)
    if not earlier:
        raise IndexStoreError(
            f"{index_dir}: no version published before {current or 'none'} is kept to roll "
            f"back to (kept: {', '.join(versions(index_dir)) or 'none'})"
        )
    target = earlier[-1]
    try:  # a damaged version published would be refused by every server that restarts
        problem = damage(
            index_dir / VERSIONS / target, read_manifest(index_dir / VERSIONS / target)
        )
    except IndexStoreError as exc:
        problem = str(exc)
    if problem:
        raise IndexStoreError(
            f"{problem}: version {target} cannot be served, so it was not published; "
            f"{current or 'nothing'} stays published. Delete {index_dir / VERSIONS / target} "
            "to roll back past it, or rebuild"
        )
    publish(index_dir, target)
    record(index_dir, earlier)
    return target
