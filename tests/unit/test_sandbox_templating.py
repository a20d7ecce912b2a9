"""The sandbox sites' templates are compiled when a site is built, not on first render."""

from __future__ import annotations

from pathlib import Path

import jinja2

from nhicard.sandbox.templating import compile_templates

TEMPLATES = Path(__file__).resolve().parents[2] / "nhicard" / "sandbox" / "templates"


def test_every_template_of_a_site_is_in_the_cache_after_compiling() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    compile_templates(env, "nhi_")
    cached = {name for _loader, name in env.cache} if env.cache is not None else set()
    expected = {p.name for p in TEMPLATES.glob("nhi_*")}
    assert expected and cached == expected
