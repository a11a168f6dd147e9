"""The ``--html`` page's script and styles: package data found through importlib.resources, inlined into
the written page under a Content-Security-Policy that allows exactly their texts, and valid JavaScript
(``node --check``, where Node.js is installed)."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from kernelwise.explain import _page, explain_conv, explain_pool, render_html

ROOT = Path(__file__).resolve().parents[1]


def assets() -> dict[str, str]:
    """Every file of the package's assets/ folder, by name, as importlib.resources finds it."""
    folder = resources.files("kernelwise.explain").joinpath("assets")
    return {f.name: f.read_text(encoding="utf-8") for f in folder.iterdir() if f.is_file()}


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_assets_are_found_through_importlib_resources():
    found = assets()
    assert {"page.js", "page.css"} <= set(found)
    assert found["page.js"] == _page.asset("page.js") and '"use strict";' in found["page.js"]
    assert found["page.css"] == _page.asset("page.css") and "body {" in found["page.css"]


def test_package_data_ships_every_asset():
    """pyproject.toml's package-data globs cover every file in assets/, so wheels and sdists carry them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["kernelwise.explain"]
    for name in assets():
        assert any(Path("assets", name).match(g) for g in globs), f"assets/{name} is not package data"


@pytest.mark.parametrize("explain", [explain_conv, explain_pool])
def test_written_page_inlines_the_assets_under_its_csp(tmp_path, explain):
    path = tmp_path / "page.html"
    render_html(explain(), path)
    text = path.read_text(encoding="utf-8")
    found = assets()
    script = re.search(r"<script>(.*?)</script>", text, re.DOTALL)[1]
    style = re.search(r"<style>(.*?)</style>", text, re.DOTALL)[1]
    assert script.strip() == found["page.js"].strip()
    assert style.strip() == found["page.css"].strip()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', text)[1]
    assert csp == f"default-src 'none'; style-src {sha256(style)}; script-src {sha256(script)}"
    assert "unsafe-inline" not in text
    for remote in ("http://", "https://", "src=", "href="):
        assert remote not in text, remote


def test_an_asset_that_would_end_its_element_is_refused(tmp_path, monkeypatch):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "bad.js").write_text('const s = "</script>";\n')

    class Files:
        @staticmethod
        def files(package):
            return tmp_path

    monkeypatch.setattr(_page, "resources", Files)
    _page.asset.cache_clear()
    try:
        with pytest.raises(ValueError, match="cannot be inlined"):
            _page.asset("bad.js")
    finally:
        _page.asset.cache_clear()


@pytest.mark.parametrize("name", sorted(n for n in assets() if n.endswith(".js")))
def test_javascript_assets_pass_node_check(name, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js found on PATH: the JavaScript assets were not checked with node --check")
    path = tmp_path / name
    path.write_text(assets()[name], encoding="utf-8")
    done = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
