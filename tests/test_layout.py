"""The code's shape that issue 21 set, held so that it does not drift back.

The store is the versioned directory only and imports no other stage; the layers import
downwards only; no module grows past the size one person can read at a sitting.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

MAX_LINES = 450
LAYERS = [
    {
        "assistant",
        "assistant.errors",
        "assistant.records",
        "assistant.settings",
        "assistant.limits",
    },
    {"assistant.ingest", "assistant.store", "assistant.feedback"},
    {"assistant.embed"},
    {"assistant.search"},
    {"assistant.train", "assistant.answer"},
    {"assistant.build", "assistant.engine", "assistant.updates"},
    {"assistant.evaluation", "assistant.desk"},
    {"web"},
    {"assistant.cli", "assistant.__main__"},
]
"""Each package or module, by the layer it sits on: a module may import its own layer's
packages (within its package) and the layers below, never a layer above."""


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("assistant", "web"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(p for p in parts if p != "__init__")] = path
    return found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in ("assistant", "web")}


def _layer(module: str) -> int | None:
    """The layer of the longest name in LAYERS that is `module` or a package holding it."""
    matches = [
        (len(m), depth)
        for depth, members in enumerate(LAYERS)
        for m in members
        if module == m or module.startswith(m + ".")
    ]
    return max(matches)[1] if matches else None


def test_the_store_imports_no_other_stage():
    store = {m: p for m, p in _modules().items() if m.startswith("assistant.store")}
    assert store, "assistant/store/ is gone"
    for module, path in store.items():
        foreign = {
            n for n in _imports(path) if not n.startswith(("assistant.store", "assistant.errors",
                                                           "assistant.records"))
        }  # fmt: skip
        assert not foreign, f"{module} imports {sorted(foreign)}"


def test_imports_run_down_the_layers():
    upward = []
    for module, path in _modules().items():
        here = _layer(module)
        assert here is not None, f"{module} is on no layer of tests/test_layout.py"
        for name in _imports(path):
            there = _layer(name)
            if there is not None and there > here:
                upward.append(f"{module} -> {name}")
    assert not upward, "imports that climb a layer: " + "; ".join(sorted(upward))


def test_no_module_is_longer_than_a_sitting():
    long = {
        m: n
        for m, p in _modules().items()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"
