"""Print pip constraints that pin every dependency of pyproject.toml to its declared floor
(``name>=X`` becomes ``name==X``): the runtime ones, and those of the extras named on the
command line (``--extras dev``), so that ``make test-min`` tests what we declare.

torch is left out: the floor's wheels on the package index are CUDA builds of several GB,
so the minimum-versions venv keeps the local CPU wheel (``TORCH_SPEC`` in the Makefile).
Usage: ``python tools/min_versions.py [--extras dev,io] [pyproject.toml] > constraints.txt``.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

SKIPPED = {"torch": "CPU wheel from local disk (TORCH_SPEC), see the module docstring"}
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*(;.*)?$")


def floors(pyproject: Path, extras: list[str]) -> list[str]:
    """``name==floor`` for each ``name>=floor`` dependency (runtime, then ``extras``; torch
    excepted), one pin per name (the highest floor where two places declare one)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"{requirement!r} has no plain '>=' floor; give it one or teach this script")
        name, _, version, _ = match.groups()
        key = name.lower()
        if key in SKIPPED:
            continue
        if key not in pins or _as_tuple(version) > _as_tuple(pins[key].split("==")[1]):
            pins[key] = f"{name}=={version}"
    return list(pins.values())


def _as_tuple(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pyproject", nargs="?", default=Path(__file__).resolve().parents[1] / "pyproject.toml")
    parser.add_argument("--extras", default="", help="comma-separated extras whose floors are pinned too")
    args = parser.parse_args()
    print("\n".join(floors(Path(args.pyproject), [e for e in args.extras.split(",") if e])))
