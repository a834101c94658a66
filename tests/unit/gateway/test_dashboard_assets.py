"""The dashboard's files hang together without a browser: every module a page file imports exists, every element
a module looks up by id is in index.html, the import map points at the vendored library that `make install`
copied, and the image build installs that library as `make install` does."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "services/gateway/dealpulse_gateway/static"
MODULES = sorted((STATIC / "js").glob("*.js"))
INDEX = (STATIC / "index.html").read_text()
NPM_CI = "npm ci --prefix services/gateway/web --no-audit --no-fund"


def _import_map() -> dict[str, str]:
    found = re.search(r'<script type="importmap">(.*?)</script>', INDEX, re.S)
    assert found, "index.html declares an import map"
    imports: dict[str, str] = json.loads(found.group(1))["imports"]
    return imports


def _served(url: str) -> Path:
    assert url.startswith("/static/"), url
    return STATIC / url.removeprefix("/static/")


def test_the_import_map_points_at_the_installed_library() -> None:
    imports = _import_map()
    assert {"chart.js", "@kurkle/color"} <= set(imports)
    for url in imports.values():
        assert _served(url).is_file(), f"{url} is missing: run make install (npm ci copies it)"


def test_every_import_resolves() -> None:
    bare = set(_import_map())
    for module in MODULES:
        for target in re.findall(r'''(?:from|import)\s*\(?\s*"([^"]+)"''', module.read_text()):
            if target.startswith("./"):
                assert (module.parent / target).is_file(), f"{module.name} imports {target}, which does not exist"
            else:
                assert target in bare, f"{module.name} imports {target!r}, which the import map does not name"
    for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', INDEX):
        assert _served(url).is_file(), f"index.html loads {url}, which does not exist"


def test_every_module_the_page_starts_with_is_preloaded() -> None:
    """main.js and what it imports, statically, all fetched in the first wave (no waterfall of import levels)."""
    preloaded = {Path(url).name for url in re.findall(r'<link rel="modulepreload" href="([^"]+)"', INDEX)}
    wanted, todo = set(), ["main.js"]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        todo += [Path(t).name for t in re.findall(r'^import .*? from "(\./[^"]+)";', (STATIC / "js" / name).read_text(),
                                                  re.M | re.S)]
    assert wanted <= preloaded, f"not preloaded: {sorted(wanted - preloaded)}"


def test_every_element_a_module_looks_up_is_on_the_page() -> None:
    ids = set(re.findall(r'\sid="([^"]+)"', INDEX))
    for module in MODULES:
        for wanted in re.findall(r'\$\("([^"]+)"\)', module.read_text()):
            assert wanted in ids, f"{module.name} looks up #{wanted}, which index.html lacks"


def test_the_image_installs_the_library_as_make_install_does() -> None:
    assert NPM_CI in (ROOT / "Makefile").read_text().replace("$(WEB)", "services/gateway/web")
    assert NPM_CI in (ROOT / "deploy/docker/service.Dockerfile").read_text()
    lock = json.loads((ROOT / "services/gateway/web/package-lock.json").read_text())
    wanted = json.loads((ROOT / "services/gateway/web/package.json").read_text())["dependencies"]
    for name, version in wanted.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, f"{name} is pinned by the lock"
