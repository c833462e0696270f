"""pyproject.toml ships every package of the source tree: a package missing from its list is absent
from a non-editable install (``pip install .``), and the layer check in ``.ci/run`` lints that copy."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_table() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def _packages_on_disk(package_dir: dict[str, str]) -> set[str]:
    """Every dotted package name that a folder with an ``__init__.py`` gives under the mapping."""
    found = set()
    for name, folder in package_dir.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            parts = init.parent.relative_to(base).parts
            found.add(".".join((name, *parts)))
    return found


def test_every_package_folder_is_listed_in_pyproject():
    table = _setuptools_table()
    listed = set(table["packages"])
    on_disk = _packages_on_disk(table["package-dir"])
    assert on_disk - listed == set(), "packages missing from [tool.setuptools] packages"


def test_every_listed_package_exists():
    table = _setuptools_table()
    on_disk = _packages_on_disk(table["package-dir"])
    assert set(table["packages"]) - on_disk == set()
