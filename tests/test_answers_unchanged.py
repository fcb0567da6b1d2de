"""The API's answers to every gold question, held against the answers it gave before a refactor.

A change of structure (issue 21: the store, the build and the ranker split apart) must not
change what a clinician is shown. `fixtures/gold_answers.json` holds, for each question of
`tests/gold/dev.jsonl` and `tests/gold/test.jsonl`, the ranked passage ids with their scores and
relevance flags (and a lead-in's list, by id), whether it was declined, and a hash of the rest of the response (text,
citations, references, disclaimer, index summary but its version name and build time).

Scores are compared to 1e-5: the same code on another CPU may round its last bits otherwise.
A change that is meant to alter answers rewrites the file, and the diff shows which questions
moved: `MMN_WRITE_ANSWERS=1 python -m pytest tests/test_answers_unchanged.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.evaluation import load_gold
from web.app import create_app

pytestmark = pytest.mark.model

GOLD = Path(__file__).parent / "gold"
SNAPSHOT = Path(__file__).parent / "fixtures" / "gold_answers.json"
VOLATILE = ("version", "built_at")
"""Fields of the answer's `index` summary that every build renews."""


def _fingerprint(body: dict) -> dict:
    rest = json.loads(json.dumps(body))
    for name in VOLATILE:
        rest["index"].pop(name, None)
    ranked = []
    for passage in rest["passages"]:
        entry = [passage.pop("id"), round(passage.pop("score"), 6), passage["relevant"]]
        items = [item["id"] for item in passage.pop("items", [])]  # a lead-in's list, by id
        ranked.append(entry + [items] if items else entry)
    canonical = json.dumps(rest, sort_keys=True, ensure_ascii=False).encode()
    return {
        "answerable": body["answerable"],
        "passages": ranked,
        "rest_sha256": hashlib.sha256(canonical).hexdigest(),
    }


def _answers(engine) -> dict[str, dict]:
    answers: dict[str, dict] = {}
    with TestClient(create_app(engine=engine)) as client:
        for name in ("dev.jsonl", "test.jsonl"):
            for item in load_gold(GOLD / name):
                payload = {"question": item.question, "history": list(item.history)}
                response = client.post("/api/ask", json=payload)
                assert response.status_code == 200, (item.id, response.text)
                answers[f"{name}:{item.id}"] = _fingerprint(response.json())
    return answers


def test_the_api_answers_every_gold_question_as_it_did(engine) -> None:
    answers = _answers(engine)
    if os.environ.get("MMN_WRITE_ANSWERS") == "1":
        SNAPSHOT.write_text(json.dumps(answers, indent=0, sort_keys=True) + "\n")
    before = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert answers.keys() == before.keys(), "the gold sets changed: rewrite the snapshot"
    moved = []
    for key, now in answers.items():
        then = before[key]
        same = (
            now["answerable"] == then["answerable"]
            and now["rest_sha256"] == then["rest_sha256"]
            and [p[0] for p in now["passages"]] == [p[0] for p in then["passages"]]
            and [p[2] for p in now["passages"]] == [p[2] for p in then["passages"]]
            and all(
                abs(a[1] - b[1]) <= 1e-5
                for a, b in zip(now["passages"], then["passages"], strict=True)
            )
        )
        if not same:
            moved.append(f"{key}: {then} -> {now}")
    assert not moved, f"{len(moved)} answers changed:\n" + "\n".join(moved[:10])
