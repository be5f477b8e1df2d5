"""Print pip constraints that pin every runtime dependency of pyproject.toml to its declared
floor (``name>=X`` becomes ``name==X``), so that ``make test-min`` tests what we declare.

torch is left out: the floor's wheels on the package index are CUDA builds of several GB,
so the minimum-versions venv keeps the local CPU wheel (``TORCH_SPEC`` in the Makefile).
Usage: ``python tools/min_versions.py [pyproject.toml] > constraints.txt``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SKIPPED = {"torch": "CPU wheel from local disk (TORCH_SPEC), see the module docstring"}
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*(;.*)?$")


def floors(pyproject: Path) -> list[str]:
    """``name==floor`` for each ``name>=floor`` runtime dependency (torch excepted)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    pins = []
    for requirement in project["dependencies"]:
        match = FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"{requirement!r} has no plain '>=' floor; give it one or teach this script")
        name, _, version, _ = match.groups()
        if name.lower() not in SKIPPED:
            pins.append(f"{name}=={version}")
    return pins


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "pyproject.toml"
    print("\n".join(floors(path)))
