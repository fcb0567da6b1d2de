"""Known vulnerabilities of the installed packages, from PyPI's package JSON.

pip-audit cannot work from this machine (PyPI's per-version JSON answers 404 here and OSV is not
reachable). PyPI's package-level JSON, which is served, lists the known vulnerabilities of the
package's latest release; so every installed package at its latest release can be checked, and
the others are named as not checked.

    .venv/bin/python bench/audit_latest.py

Writes bench/results/audit.json; exits 1 when an installed package has a known vulnerability.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, write  # noqa: E402


def main() -> int:
    installed = {d.metadata["Name"].lower(): d.version for d in metadata.distributions()}
    installed.pop("mmn-assistant", None)
    checked, not_latest, unreachable, vulnerable = [], [], [], []
    for name, version in sorted(installed.items()):
        try:
            url = f"https://pypi.org/pypi/{name}/json"
            with urllib.request.urlopen(url, timeout=20) as response:
                data = json.load(response)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            unreachable.append({"name": name, "version": version, "why": str(exc)[:120]})
            continue
        latest = data["info"]["version"]
        if version.split("+")[0] != latest:
            not_latest.append({"name": name, "installed": version, "latest": latest})
            continue
        checked.append(name)
        for advisory in data.get("vulnerabilities") or []:
            vulnerable.append({"name": name, "version": version, "id": advisory.get("id"),
                               "fixed_in": advisory.get("fixed_in")})  # fmt: skip
    write(
        RESULTS / "audit.json",
        {
            "benchmark": "known vulnerabilities of installed packages at their latest release",
            "installed": len(installed),
            "checked": len(checked),
            "vulnerable": vulnerable,
            "not_at_latest_release_so_not_checked": not_latest,
            "unreachable": unreachable,
        },
    )
    print(f"{len(installed)} installed packages; {len(checked)} at their latest release checked, "
          f"{len(vulnerable)} known vulnerabilities among them")  # fmt: skip
    for item in vulnerable:
        print(
            f"  VULNERABLE {item['name']} {item['version']}: {item['id']} fixed in {item['fixed_in']}"
        )
    for item in not_latest:
        print(f"  not checked: {item['name']} {item['installed']} (latest {item['latest']})")
    for item in unreachable:
        print(f"  not checked: {item['name']} {item['version']} ({item['why']})")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
