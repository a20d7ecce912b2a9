"""The sandbox sites' Jinja templates, compiled when a site is built (at ``sandbox up``), not
on the first request that renders each one (≈ 3-15 ms a template, paid inside the first
register, verify-email and login of every fresh sandbox)."""

from __future__ import annotations

import jinja2


def compile_templates(env: jinja2.Environment, prefix: str) -> None:
    """Load every template of ``env`` whose name starts with ``prefix`` into its cache."""
    for name in env.list_templates(filter_func=lambda n: n.startswith(prefix)):
        env.get_template(name)
