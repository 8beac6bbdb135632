"""Where dance models are found: the ones the add-on ships, and any folder of the user's.

A model is a folder holding a `model.json` (see `generator.py`). A built extension carries its
models in `<package>/models/` (tools/build_extension.py copies them there); the source tree keeps
them in `<repo>/models/`, beside the package. The package's own folder wins when it exists, so an
installed extension never looks at its neighbours in the extensions folder.
"""
from __future__ import annotations

from pathlib import Path

from .graph import MANIFEST as GRAPH_MANIFEST
from .lstm import MANIFEST

# The dance_addon package folder, with symlinks resolved (a source tree linked into Blender's
# extensions folder resolves to the repository).
PACKAGE_DIR = Path(__file__).resolve().parents[2]


def model_dirs_in(folder: Path | None) -> list[Path]:
    """Model folders directly inside `folder` (or `folder` itself when it is one), sorted by name."""
    if folder is None or not Path(folder).is_dir():
        return []
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        return [folder]
    return sorted((d for d in folder.iterdir() if (d / MANIFEST).is_file()), key=lambda d: d.name)


def shipped_model_dirs(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Model folders shipped with the add-on, sorted by folder name.

    Looks in `package_dir/models/` (built extension), else in `package_dir/../models/` (source
    tree). Returns an empty list when no model ships.
    """
    built = package_dir / "models"
    return model_dirs_in(built if built.is_dir() else package_dir.parent / "models")


def shipped_graph_dirs(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Action-graph folders (holding graph.json) shipped with the add-on, sorted by folder name;
    looked for where `shipped_model_dirs` looks."""
    built = package_dir / "models"
    folder = built if built.is_dir() else package_dir.parent / "models"
    if not folder.is_dir():
        return []
    return sorted((d for d in folder.iterdir() if (d / GRAPH_MANIFEST).is_file()), key=lambda d: d.name)
