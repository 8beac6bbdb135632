"""The built linux-x64 zip holds the add-on and nothing else of the repository, installs into
headless Blender, uses its bundled onnxruntime wheel, runs a shipped model, composes a graph
dance with the shipped action graph, bakes a dance with the panel's default method, and disables
and uninstalls cleanly.

The zip is built once per session by tools/build_extension.py with one tiny exported model and
the repository's action graph (models/dance-graph) as the shipped models; the wheels are cached
in build/wheels (the first run downloads the ~27 MB onnxruntime wheels from PyPI; a failed
download fails the test with pip's message)."""
from __future__ import annotations

import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dance_addon.core.choreography.lstm import load_model
from dance_addon.core.choreography.model_folders import shipped_graph_dirs
from dance_addon.core.music import features as music_mod
from probes import run_probe
from test_bake import tiny_model_dir
from tools.build_extension import build

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("zip_install_probe.py")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(linux-x64 zip, the tiny model folder it ships, the action graph folder it ships)."""
    root = tmp_path_factory.mktemp("ext")
    model = tiny_model_dir(root / "models", precision="int8")
    graph = shutil.copytree(shipped_graph_dirs()[0], root / "models" / "dance-graph")
    (zip_path,) = build(["linux-x64"], root / "models", root / "dist", REPO / "build" / "wheels", root / "stage")
    return zip_path, model, graph


def test_zip_bundles_onnxruntime_wheels_and_models_but_no_numpy(built):
    zip_path, model, graph = built
    assert zip_path.name == "dance_addon-0.1.0-linux_x64.zip"
    names = zipfile.ZipFile(zip_path).namelist()
    wheels = [n for n in names if n.startswith("wheels/")]
    assert any(w.startswith("wheels/onnxruntime-1.32.0-cp311-") for w in wheels)
    assert any(w.startswith("wheels/onnxruntime-1.32.0-cp313-") for w in wheels)
    assert not any("numpy" in n.lower() for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {f"models/tiny/{f.name}" for f in model.iterdir()} <= set(names)
    assert {"models/dance-graph/graph.json", "models/dance-graph/graph.npz"} <= set(names)


def test_zip_is_the_package_with_the_manifest_beside_it_and_nothing_else(built):
    """The extension's root: the package's own files (as in dance_addon/), the manifest from the
    top of the repository (with the platform and wheels added), models/ and wheels/; nothing of
    training/, tests/, tools/, docs/... and the source package's files unchanged."""
    zip_path, _, _ = built
    package = REPO / "dance_addon"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        top = {n.split("/")[0] for n in names}
        expected = {p.name for p in package.iterdir() if p.name != "__pycache__"}
        assert top == expected | {"blender_manifest.toml", "models", "wheels"}
        assert {"__init__.py", "blender", "core"} <= top
        for name in names:
            if name.split("/")[0] in expected and not name.endswith("/"):
                assert zf.read(name) == (package / name).read_bytes(), name
        staged = tomllib.loads(zf.read("blender_manifest.toml").decode())
    source = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    assert staged.pop("platforms") == ["linux-x64"] and staged.pop("wheels")
    assert staged["build"].pop("generated")["platforms"] == ["linux-x64"]      # written by Blender's build
    assert staged == source and source["id"] == "dance_addon" and source["version"] == "0.1.0"
    assert "wheels" not in source and "platforms" not in source


# The Blenders the zip is installed into: this venv's bpy 5.0 (Python 3.11) and the newest, bpy 5.2 LTS
# (Python 3.13, as Blender 5.1 and later; `make test` makes .venv-bpy52 from requirements-bpy52.txt).
BLENDERS = {"5.0": (Path(sys.executable), "311"), "5.2": (REPO / ".venv-bpy52" / "bin" / "python", "313")}


def _probe(python: Path, user: Path, *args: str) -> dict:
    """Run tests/zip_install_probe.py with `python` in a fresh process, `user` as Blender's user folder."""
    return run_probe(python, PROBE, *args, user=user)


@pytest.mark.parametrize("blender", BLENDERS)
def test_installed_zip_enables_uses_its_wheel_bakes_and_uninstalls(built, tmp_path, music_tracks, blender):
    zip_path, model, graph = built
    python, cp = BLENDERS[blender]
    assert python.exists(), f"{python} is missing: `make test` creates it from requirements-bpy52.txt"
    user = tmp_path / "user"
    installed = _probe(python, user, "install", str(zip_path))
    assert installed["enabled"]
    site = Path(installed["wheel_site_packages"])
    assert site.is_relative_to(user / "extensions")
    # Blender unpacked the bundled wheels for its Python (the cp311 or cp313 onnxruntime of the two).
    assert installed["installed_wheels"] == ["flatbuffers-25.12.19.dist-info", "onnxruntime-1.32.0.dist-info",
                                             "packaging-26.3.dist-info", "protobuf-7.36.2.dist-info"]
    assert next(site.glob(f"onnxruntime/capi/onnxruntime_pybind11_state.cpython-{cp}-*.so"))

    music = np.random.default_rng(0).normal(size=(60, len(music_mod.FEATURE_COLUMNS))).astype(np.float32)
    np.save(tmp_path / "music.npy", music)
    used = _probe(python, user, "use", str(tmp_path / "music.npy"), str(tmp_path / "dance.npy"), str(music_tracks[4]))
    assert used["enabled"]
    # After a restart onnxruntime is imported from the bundled wheel, not from the venv.
    assert Path(used["onnxruntime_file"]).is_relative_to(site), used["onnxruntime_file"]
    assert used["onnxruntime_version"] == "1.32.0"
    # The shipped model is found inside the installed package and runs with that onnxruntime,
    # giving what the venv's onnxruntime gives from the source model.
    assert [Path(d).name for d in used["shipped_models"]] == ["tiny"]
    assert Path(used["shipped_models"][0]).parent == Path(used["package_dir"]) / "models"
    np.testing.assert_array_equal(np.load(tmp_path / "dance.npy"), load_model(model).generate(music, seed=3))

    # the shipped action graph is found inside the installed package, and the installed add-on's own
    # modules compose a travelling graph dance of the song's first 10 s with it
    assert used["shipped_graphs"] == [str(Path(used["package_dir"]) / "models" / "dance-graph")]
    dance = used["graph_dance"]
    assert Path(dance["module"]).is_relative_to(used["package_dir"])
    assert dance["method"] == "graph" and dance["summary"].startswith("graph: ")
    assert dance["frames"] == 10 * 30 + 1 and dance["fps"] == 30 and dance["moves"] >= 2
    assert dance["travel"] > 0.3

    # and the installed add-on bakes: the Bake operator keys the song's span onto the dancer, by the
    # panel's default method, the action graph
    assert used["bake"] == ["FINISHED"]
    assert used["bake_method"] == "graph" and used["bake_result"].startswith("graph: ")
    assert used["baked_action"] == "Dance - song"
    assert used["baked_range"] == [used["strip_range"][0], used["strip_range"][1] - 1]

    assert used["disabled"]
    assert not used["package_dir_after_uninstall"]
    assert used["wheels_after_uninstall"] == []
