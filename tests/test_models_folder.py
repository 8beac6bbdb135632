"""Shipped models are found where the build puts them and where the source tree keeps them."""
from __future__ import annotations

from pathlib import Path

from dance_addon.core.choreography.model_folders import PACKAGE_DIR, shipped_model_dirs

REPO = Path(__file__).resolve().parents[1]


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.json").write_text("{}")
    return folder


def test_source_tree_models_are_the_repo_models_folder():
    assert PACKAGE_DIR == REPO / "dance_addon"
    expected = sorted(d for d in (REPO / "models").iterdir() if (d / "model.json").is_file())
    assert shipped_model_dirs() == expected


def test_source_layout_lists_only_folders_with_model_json(tmp_path):
    package = tmp_path / "dance_addon"
    package.mkdir()
    b, a = _model(tmp_path / "models" / "b"), _model(tmp_path / "models" / "a")
    (tmp_path / "models" / "no_json").mkdir()
    (tmp_path / "models" / "README.md").write_text("not a model")
    assert shipped_model_dirs(package) == [a, b]


def test_built_extension_uses_its_own_models_not_its_neighbours(tmp_path):
    package = tmp_path / "dance_addon"
    inside = _model(package / "models" / "default")
    _model(tmp_path / "models" / "neighbour")
    assert shipped_model_dirs(package) == [inside]


def test_no_models_folder_gives_an_empty_list(tmp_path):
    (tmp_path / "dance_addon").mkdir()
    assert shipped_model_dirs(tmp_path / "dance_addon") == []
