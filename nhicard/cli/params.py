"""Click parameter types shared by several commands."""

from __future__ import annotations

import math
from typing import Any

import click

YEAR = 365 * 24 * 3600.0


class Seconds(click.FloatRange):
    """A number of seconds: finite (``nan``, ``inf`` and ``1e400`` are usage errors, exit 2)
    and at most a year, so every wait and deadline below stays computable."""

    name = "seconds"

    def __init__(self, min: float = 0, *, min_open: bool = True, max: float = YEAR) -> None:  # noqa: A002
        super().__init__(min=min, max=max, min_open=min_open)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds.", param, ctx)
        return super().convert(number, param, ctx)
