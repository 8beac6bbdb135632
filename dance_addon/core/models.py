"""Where dance models are found: the ones the add-on ships, and any folder of the user's.

A model is a folder holding `model.json` (see generator.py). The built extension carries its
models in `<package>/models/`; in the source tree they live in the repository's `models/`.
"""
from __future__ import annotations

from pathlib import Path

from .generator import MANIFEST

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def model_dirs_in(folder: Path | None) -> list[Path]:
    """Model folders directly inside `folder` (or `folder` itself when it is one), sorted by name."""
    if folder is None or not Path(folder).is_dir():
        return []
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        return [folder]
    return sorted(p for p in folder.iterdir() if (p / MANIFEST).is_file())


def shipped_model_dirs() -> list[Path]:
    """The models shipped with the add-on: the built extension's, else the source tree's."""
    found = model_dirs_in(PACKAGE_DIR / "models")
    return found or model_dirs_in(PACKAGE_DIR.parent / "models")
