"""The pages' templates and static files ship in the wheel: every file under the UI's
folders is named by the package-data globs, so an installed hookline serves the same
pages and scripts, offline, as a checkout does."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "hookline"


def packaged() -> set[Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["hookline"]
    return {path for pattern in globs for path in PACKAGE.glob(pattern) if path.is_file()}


def test_every_template_and_static_file_is_package_data() -> None:
    assets = {
        path
        for folder in ("ui/templates", "ui/static")
        for path in (PACKAGE / folder).rglob("*")
        if path.is_file()
    }
    assert assets, "no UI assets found"
    missing = sorted(str(p.relative_to(PACKAGE)) for p in assets - packaged())
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_pages_load_nothing_from_another_host() -> None:
    """No template or script names an absolute http(s) URL to fetch (the browser tests
    also abort any such request on every page they open)."""
    for path in (PACKAGE / "ui").rglob("*"):
        if path.suffix not in (".html", ".js", ".css") or "vendor" in path.parts:
            continue
        text = path.read_text()
        for attr in ('src="http', "src='http", 'href="http', "url(http", 'fetch("http'):
            assert attr not in text, f"{path.name} loads from another host ({attr})"
