"""Settings in one place: every `MMN_*` environment variable, and the ranker's training.

`current()` reads and validates the environment (pydantic-settings); a bad value is a
`SettingsError` whose one line says which variable and what it accepts, and the CLI exits with
status 2 on it, before any work. The entry points (the CLI's commands, the server) read it once
and pass the `Settings` down; nothing below them reads the environment again. The training settings are the project's tuned numbers; what
training fits from them (weights, thresholds) is stored in each index version, never here.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import AssistantError

ENV_PREFIX = "MMN_"


_HOST_PATTERN = re.compile(r"\*|(?:\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
"""A host name (optionally *. for its subdomains), an IPv4 address, or *."""


def host_name(value: str) -> str:
    """A Host header's (or an allowed host's) name: lower case, without its port, an IPv6
    address without its brackets."""
    value = value.strip().lower()
    if value.startswith("["):  # "[2001:DB8:0::5]:8000": the address, in its short form
        inside, _, after = value[1:].partition("]")
        if after and not (after[0] == ":" and after[1:].isdigit()):
            return value  # "[::1]x.evil" names no address
        return _short(inside)
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    elif value.count(":") > 1:
        return _short(value)
    return value.rstrip(".")  # "example.org." is example.org


def _short(address: str) -> str:
    """An IPv6 address as browsers write it ("::1" for "0:0:0:0:0:0:0:1"), else as given."""
    try:
        return ipaddress.IPv6Address(address).compressed
    except ValueError:
        return address


def _allowed_name(value: str) -> str:
    """An `allowed_hosts` entry (or the address `serve` listens on) as `host_name` reads a
    Host header: lower case, an IPv6 address without brackets and in its short form."""
    value = value.strip().lower()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return _short(value)


def _ipv6(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).version == 6
    except ValueError:
        return False


class SettingsError(AssistantError):
    """An `MMN_*` variable with a value that cannot be used."""


class Settings(BaseSettings):
    """The `MMN_*` environment variables (documented in the README's settings table)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    corpus_dir: Path = Field(
        Path("corpus"), description="where the articles, the vocabulary files and examples/ are"
    )
    index_dir: Path = Field(Path("index"), description="where index versions are written and read")
    model: Path | None = Field(
        None,
        description="a local sentence-transformers model directory (default: the packaged all-MiniLM-L6-v2)",
    )
    log_questions: bool = Field(
        False,
        description="put each question's text in the request log (debugging only: questions may hold patient details)",
    )
    embed_runtime: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="run the model in ONNX (auto: when it can be exported) or PyTorch"
    )
    model_export_dir: Path | None = Field(
        None, description="where the model's ONNX export is kept (default: <index dir>/models)"
    )
    query_cache: int = Field(2048, ge=0, description="question vectors kept in memory (0: none)")
    feedback_db: Path = Field(
        Path("data/feedback.sqlite3"),
        description="the SQLite file of clinicians' feedback (its form-token key is kept beside it)",
    )
    feedback_per_minute: int = Field(
        30, ge=1, description="feedback a client may send a minute (429 after)"
    )
    forwarded_allow_ips: str = Field(
        "",
        description="proxies (addresses or networks, comma-separated) whose X-Forwarded-For "
        "names the client; empty: none, a request's own address counts (docs/deploy.md)",
    )
    allowed_hosts: str = Field(
        "localhost,127.0.0.1,::1",
        description="the names a request's Host may give (comma-separated; *.example.org for "
        "its subdomains, * for any): others get 400, so a page on another site cannot reach "
        "this server by rebinding its name to this address (docs/deploy.md)",
    )
    workers: int = Field(1, ge=1, le=64, description="server processes (`serve --workers`)")
    onnx_threads: int = Field(
        0, ge=0, description="threads of each ONNX session (0: the cores shared among the workers)"
    )
    max_in_flight: int = Field(
        64,
        ge=1,
        description="requests a server process answers at once; past it, 503 (`serve --max-in-flight`)",
    )
    body_timeout: float = Field(
        10.0, gt=0, le=300, description="seconds a request body may take to arrive (408 after)"
    )
    batch_texts: int = Field(
        32,
        ge=1,
        le=256,
        description="texts concurrent questions may share in one model call (1: no batching)",
    )
    batch_wait_ms: float = Field(
        2.0,
        ge=0,
        le=50,
        description="under load, how long a model call may wait for more questions to join it",
    )
    onnx_spin: bool | None = Field(
        None,
        description="let onnxruntime's threads spin during a model call (unset: when the "
        "workers' threads fit the cores)",
    )
    fine_tune: bool = Field(
        False,
        description="fine-tune the model on the examples at each build (`build --fine-tune`; about 4 minutes more)",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        for part in parts:
            try:  # strict: gunicorn refuses "10.0.0.1/8" at start, uvicorn reads it as a name
                ipaddress.ip_network(part)
            except ValueError as exc:
                raise ValueError(f"{part!r} is not an IP address or network ({exc})") from None
        return ",".join(parts)

    @field_validator("corpus_dir", "index_dir", "feedback_db", mode="before")
    @classmethod
    def _a_path(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():  # Path("") would be the current folder
            raise ValueError("it is empty; give a path, or unset it for the default")
        return value

    @field_validator("model", "model_export_dir", mode="before")
    @classmethod
    def _a_path_or_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value  # empty: unset

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        names = [_allowed_name(p) for p in value.split(",") if p.strip()]
        for name in names:
            if ":" in name and _ipv6(name):
                continue
            if not _HOST_PATTERN.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a host name, an address, *.domain or * (no scheme, port "
                    "or path)"
                )
        if not names:
            raise ValueError("no host is named; give localhost,127.0.0.1,::1 at least")
        return ",".join(names)

    @property
    def hosts(self) -> frozenset[str]:
        """`allowed_hosts` as the request guard compares them with `host_name`'s."""
        return frozenset(_allowed_name(n) for n in self.allowed_hosts.split(","))

    @property
    def threads_per_session(self) -> int:
        """`onnx_threads`, or the machine's cores shared among the workers (at least one)."""
        if self.onnx_threads:
            return self.onnx_threads
        return max(1, cores() // self.workers)

    @property
    def spin(self) -> bool:
        """`onnx_spin`, or by layout (issue 24): spinning when a session has threads to spin
        and the workers' threads fit the cores. One worker on two cores: a question in 3.3 ms
        against 3.9 without (the threads stop spinning when a call returns); sessions sharing
        cores with other workers' would spin on time the others need."""
        if self.onnx_spin is not None:
            return self.onnx_spin
        return 1 < self.threads_per_session and self.threads_per_session * self.workers <= cores()

    @property
    def concurrent_model_calls(self) -> int:
        """Model calls a process runs at once: as many as its sessions' threads fill the cores."""
        return max(1, cores() // self.threads_per_session)


def cores() -> int:
    """The cores the model's threads are sized on (at most 4: more gave a question nothing)."""
    return min(os.cpu_count() or 1, 4)


def allowing(hosts: str, address: str) -> str:
    """`hosts` (an `allowed_hosts` value) with the address a server listens on, which clients
    may name; not a wildcard address (0.0.0.0, ::), nor one no Host header could name."""
    name = _allowed_name(address)
    if name in ("0.0.0.0", "::") or not (_HOST_PATTERN.fullmatch(name) or _ipv6(name)):
        return hosts
    return f"{hosts},{name}"


def defaults() -> Settings:
    """The documented defaults, without reading the environment: what a caller that passes no
    settings gets (a test, a library user). Commands and the server pass `current()` down."""
    return Settings.model_construct()


def current(**overrides: object) -> Settings:
    """The settings from the environment (and `overrides`), validated."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ENV_PREFIX + str(error["loc"][0]).upper() if error.get("loc") else "an MMN_ variable"
        value = error.get("input")
        raise SettingsError(
            f"{name}={value!r} cannot be used: {error['msg'].lower()}; fix or unset it"
        ) from None


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, what it does) for every setting: `--help` and the README show them."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = (
            "none"
            if default is None
            else str(default).lower()
            if isinstance(default, bool)
            else str(default)
        )
        rows.append((ENV_PREFIX + name.upper(), shown, field.description or ""))
    return rows


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    """How the ranker is trained; recorded in the manifest with the figures it gave."""

    seed: int = 13
    steps: int = 200
    learning_rate: float = 1.5e-3
    scale: float = 20.0
    l2: float = 0.01
    not_covered_vectors: int = 16
    """How many "not covered" vectors: out-of-scope questions are of many kinds."""
    threads: int = 2
    """Training threads: fixed, so the same inputs give the same sums and the same artefact."""
    passage_l2: float = 0.01
    """Above 0, each passage also learns an offset to its vector (L2 weight on the offsets)."""
    derived_weight: float = 1.0
    """Above 0, every passage also trains on questions derived from its own words
    (`assistant.ingest.derived`), each weighing this against a written example's 1: a passage
    with few or no examples is no longer buried by those with many (docs/retrieval.md:
    unexampled passages' test questions hit@1 0.475 -> 0.600, a second article's held-out
    0.711 -> 0.778; 0.1, 0.3 and 2.0 measured too)."""
    article_balance: float = 0.0
    """Each article's examples (and the out-of-scope ones) weigh count**-this each in the
    loss: 0 weighs every example alike, 1 every article alike however many examples it has.
    Measured at 0.5 and 1 with and without derived questions: no gain beyond noise, so off."""
    offset_l2_by_examples: float = 0.0
    """A passage's offset L2 is `passage_l2` times (its share of the examples x the number of
    passages) to this power, where that share is above the average. Measured at 1: no gain
    (a second article's held-out hit@1 0.689 against 0.711), so off."""
    article_l2: float = 0.0
    """Above 0, each article's passages also share a learnt offset (L2 weight on it).
    Measured at 0.01 and 0.001: no gain beyond noise, so off."""
    blend_start: float = 0.3
    """Initial weight of the history's vector in a follow-up's query (then learned)."""
    folds: int = 5
    max_wrong_declines: float = 0.015
    """The share of in-scope examples the decline threshold may decline in cross-validation:
    under the 2% a clinician tolerates, because a threshold fitted on about 800 questions
    moves by about a point on new ones."""
    unmentioned_budget: float = 0.01
    """The share of in-scope examples a rare word no article mentions may decline: the cut
    on such words' rarity is fitted to it (`assistant.ingest.unmentioned`). On the blind gold
    sets it declined far fewer in-scope questions than this (docs/retrieval.md)."""
    history_turns: int = 2
    """How many earlier questions make a follow-up's context."""
    expand: bool = True
    """Read questions with the vocabulary's bridges (abbreviations, the corpus's synonyms file,
    spelling): +0.04 hit@1 in cross-validation on examples written blind (docs/retrieval.md)."""
    bridges: str = "text"
    """How the model meets the glossary's bridges: "text", read with the question; "shifts",
    the question read as typed and each bridge's measured shift added to its vector
    (`assistant.search.shifts`): the model's call costs what the typed question costs, and the
    figures move by a question or two either way (bench/README.md, issue 24). The shifts live
    in the trained ranker: a build without examples reads the bridges as text."""
    shift_weight: float = 2.0
    """What a shift counts for against the question (1: as measured on the frames, which
    comes closest to the bridged text's vector on average). At 1, 11 of the Kawasaki article's
    50 NSAID proposals ("already on Nurofen, continue?") missed the statement against them; at
    2, one, as with the bridges in the text (bench/README.md, issue 24)."""
    shift_frames: tuple[str, ...] = (
        "Is this treatment safe for my patient?",
        "What should we do next for this patient?",
        "Can we continue the current medication?",
        "How is this condition usually managed?",
        "What does the evidence say about this?",
        "Should this be offered to the patient?",
        "pt already on it, continue?",
        "Is it recommended in this condition?",
    )
    """Generic questions, of no specialty, that a bridge is appended to to measure its shift."""
    candidates: int = 50
    """Passages taken from each of dense and lexical search before fusion."""
    max_softmax_passages: int = 4096
    """Up to this many passages, every passage is a negative in training; beyond it, each
    question's gold passages and its nearest passages are."""
    lexical_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
    context_lexical_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
    relevant_margin: float = 0.12
    """A passage is labelled relevant when its adapted cosine is within this of the best."""
    untrained_floor: float = 0.3
    """Without examples nothing is learnt about declining: a question whose best cosine with
    any passage is below this is declined (all-MiniLM-L6-v2 gives unrelated English about 0.1)."""
    set_aside_quantile: float = 0.1
    """An out-of-scope example is set aside for a new passage that brings its subject when it
    scores at least what this share of in-scope examples asked alone score against their
    answers (`assistant.train.setaside`)."""
    set_aside_rarity: float = 4.5
    """... and the word it shares with the new passage names a subject: rarer in English than
    this Zipf frequency (about 30 a million words: "before", "course", "home" are commoner;
    "ultrasound", "duration" are not)."""
    set_aside_trains: bool = True
    """Until an editor resolves it, a set-aside example trains as a question its new passage
    answers (the new content wins); off, it is only left out of training."""

    def __post_init__(self) -> None:
        if self.bridges not in ("text", "shifts"):
            raise ValueError(f"bridges must be 'text' or 'shifts', not {self.bridges!r}")
        if not 0.0 <= self.shift_weight < float("inf"):
            raise ValueError(f"shift_weight must be a finite number >= 0, not {self.shift_weight}")


@dataclass(frozen=True, slots=True)
class FineTuneSettings:
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    seed: int = 13
    history_turns: int = 2
