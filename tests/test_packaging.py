"""pyproject.toml (the `dance-addon` command, the linter's settings) agrees with the extension's
manifest, and its editable install (`make setup`) installs the add-on's package and nothing else."""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _toml(name: str) -> dict:
    return tomllib.loads((REPO / name).read_text(encoding="utf-8"))


def test_project_metadata_matches_the_extension_manifest():
    project, manifest = _toml("pyproject.toml")["project"], _toml("blender_manifest.toml")
    assert not (REPO / "dance_addon" / "blender_manifest.toml").exists()       # one manifest, at the top
    assert project["version"] == manifest["version"]
    assert manifest["license"] == [f"SPDX:{project['license']}"] == ["SPDX:GPL-3.0-or-later"]
    assert project["authors"] == [{"name": manifest["maintainer"]}]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"] == {"dance-addon": "dance_addon.__main__:main"}


def test_the_installed_distribution_is_this_checkout():
    """What `make setup` installed is this version, its command runs this package's main."""
    dist = importlib.metadata.distribution("dance-addon")
    assert dist.version == _toml("pyproject.toml")["project"]["version"]
    (script,) = [e for e in dist.entry_points if e.group == "console_scripts"]
    from dance_addon.__main__ import main

    assert script.name == "dance-addon" and script.load() is main


def test_only_the_package_is_importable_outside_the_repository(tmp_path):
    """From another folder without PYTHONPATH: dance_addon is the repository's package (editable),
    and training/, tests/, tools/ and benchmarks/ are not importable (not installed by accident)."""
    probe = ("import importlib.util, dance_addon\n"
             "print(dance_addon.__file__)\n"
             "print(*[m for m in ('training', 'tests', 'tools', 'benchmarks') if importlib.util.find_spec(m)])\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    package, leaked = res.stdout.splitlines()
    assert Path(package) == REPO / "dance_addon" / "__init__.py"
    assert leaked == ""

