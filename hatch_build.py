"""Build hook (hatchling): the manual page nhicard(1), in English and zh-TW, written from the
live ``--help`` when the wheel is built and installed with it under ``share/man``.

The page is written by ``nhicard.cli.manpage`` from this source tree, in a process of its own
per language; the build environment needs only Click for it (the hook's ``dependencies`` in
pyproject.toml). Editable installs get no page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# language → where the page goes in the wheel's data (installed below sys.prefix)
PAGES = {"en": "share/man/man1/nhicard.1", "zh-TW": "share/man/zh_TW/man1/nhicard.1"}


class ManPageHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        self._dir = Path(tempfile.mkdtemp(prefix="nhicard-man-"))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.root, env.get("PYTHONPATH")]))
        for lang, target in PAGES.items():
            page = self._dir / lang / "nhicard.1"
            page.parent.mkdir()
            subprocess.run(
                [sys.executable, "-m", "nhicard.cli.manpage", "--lang", lang, "-o", str(page)],
                cwd=self.root,
                env=env,
                check=True,
            )
            build_data["shared_data"][str(page)] = target

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if getattr(self, "_dir", None) is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
