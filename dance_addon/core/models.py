"""Where the dance models that ship with the add-on are.

A model is a folder holding a `model.json` (see `generator.py`). A built extension carries its
models in `<package>/models/` (tools/build_extension.py copies them there); the source tree keeps
them in `<repo>/models/`, beside the package. The package's own folder wins when it exists, so an
installed extension never looks at its neighbours in the extensions folder.
"""
from __future__ import annotations

from pathlib import Path

# The dance_addon package folder, with symlinks resolved (a source tree linked into Blender's
# extensions folder resolves to the repository).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def shipped_model_dirs(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Model folders (each with a model.json) shipped with the add-on, sorted by folder name.

    Looks in `package_dir/models/` (built extension), else in `package_dir/../models/` (source
    tree). Returns an empty list when no model ships.
    """
    built = package_dir / "models"
    root = built if built.is_dir() else package_dir.parent / "models"
    if not root.is_dir():
        return []
    return sorted((d for d in root.iterdir() if (d / "model.json").is_file()), key=lambda d: d.name)
