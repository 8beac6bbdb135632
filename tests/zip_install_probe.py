"""Install a built extension zip into headless Blender, or use the installed one, and report
what happened as JSON (one line starting with "PROBE ").

    BLENDER_USER_RESOURCES=DIR python tests/zip_install_probe.py install ZIP
    BLENDER_USER_RESOURCES=DIR python tests/zip_install_probe.py use MUSIC.npy OUT.npy SONG

Each phase runs in its own process, as a user installs and then restarts Blender. On install,
Blender unpacks the wheels into `extensions/.local/lib/python3.X/site-packages` but only appends
that folder to sys.path, so in this venv the venv's own onnxruntime would still win; at start-up
Blender puts the folder before the interpreter's site-packages, so in the `use` phase onnxruntime
can only come from the bundled wheel. `use`: enable, import onnxruntime, generate a dance with
every shipped model from the music features in MUSIC.npy (the first one's saved to OUT.npy);
when an action graph ships, compose a graph dance of SONG's first GRAPH_SECONDS through the
installed add-on's own modules (core.choreography.compose, music features and pitch); bake SONG
onto the built-in dancer with the Bake operator (the panel's default method, or the LSTM when
no graph ships), then disable and uninstall.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import bpy
import numpy as np

EXT_ID = "dance_addon"
MODULE = f"bl_ext.user_default.{EXT_ID}"
GRAPH_SECONDS = 10.0


def _wheel_site_packages() -> Path:
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return Path(bpy.utils.user_resource("EXTENSIONS")) / ".local" / "lib" / version / "site-packages"


def _installed_wheels() -> list[str]:
    return sorted(p.name for p in _wheel_site_packages().glob("*.dist-info"))


def install(zip_path: str) -> dict:
    bpy.ops.extensions.package_install_files(repo="user_default", filepath=zip_path, enable_on_install=True)
    return {"enabled": MODULE in bpy.context.preferences.addons and MODULE in sys.modules,
            "wheel_site_packages": str(_wheel_site_packages()), "installed_wheels": _installed_wheels()}


def use(music_path: str, out_path: str, song: str) -> dict:
    bpy.ops.preferences.addon_enable(module=MODULE)
    facts: dict = {"enabled": MODULE in bpy.context.preferences.addons,
                   "package_dir": str(Path(sys.modules[MODULE].__file__).parent)}
    import onnxruntime

    facts["onnxruntime_file"] = onnxruntime.__file__
    facts["onnxruntime_version"] = onnxruntime.__version__
    models = importlib.import_module(f"{MODULE}.core.choreography.model_folders")
    generator = importlib.import_module(f"{MODULE}.core.choreography.lstm")
    shipped = models.shipped_model_dirs()
    facts["shipped_models"] = [str(d) for d in shipped]
    music = np.load(music_path)
    for i, folder in enumerate(shipped):
        dance = generator.load_model(folder).generate(music, seed=3)
        if i == 0:
            np.save(out_path, dance)
    graphs = models.shipped_graph_dirs()
    facts["shipped_graphs"] = [str(d) for d in graphs]
    if graphs:
        facts["graph_dance"] = _graph_dance(graphs[0], song)

    # the bake, as a user drives it: a song on the timeline, the dancer, the panel's default method
    character = importlib.import_module(f"{MODULE}.blender.character")
    scene = bpy.context.scene
    strip = scene.sequence_editor_create().strips.new_sound("song", song, channel=1, frame_start=5)
    arm, _ = character.build_dancer("Dancer")
    scene.dance.armature = arm
    scene.dance.model = facts["shipped_models"][0]
    if not graphs:
        scene.dance.method = "lstm"
    facts["bake_method"] = scene.dance.method
    facts["bake"] = sorted(bpy.ops.dance.bake())
    facts["bake_result"] = scene.dance.last_result
    facts["baked_action"] = arm.animation_data.action.name
    facts["baked_range"] = [int(f) for f in arm.animation_data.action.frame_range]
    facts["strip_range"] = [strip.frame_final_start, strip.frame_final_end]

    bpy.ops.preferences.addon_disable(module=MODULE)
    facts["disabled"] = MODULE not in bpy.context.preferences.addons
    repos = bpy.context.preferences.extensions.repos
    repo_index = next(i for i, r in enumerate(repos) if r.module == "user_default")
    bpy.ops.extensions.package_uninstall(repo_directory=repos[repo_index].directory, repo_index=repo_index,
                                         pkg_id=EXT_ID)
    facts["package_dir_after_uninstall"] = Path(facts["package_dir"]).exists()
    facts["wheels_after_uninstall"] = _installed_wheels()
    return facts


def _graph_dance(folder: Path, song: str) -> dict:
    """A graph dance of the song's first GRAPH_SECONDS, made by the installed add-on's modules."""
    compose = importlib.import_module(f"{MODULE}.core.choreography.compose")
    graph_mod = importlib.import_module(f"{MODULE}.core.choreography.graph")
    features = importlib.import_module(f"{MODULE}.core.music.features")
    pitch = importlib.import_module(f"{MODULE}.core.music.pitch")
    graph = graph_mod.load_graph(folder)
    samples = features.load_audio(song)[: int(GRAPH_SECONDS * features.ANALYSIS_SR)]
    feats = features.extract_features(samples, features.ANALYSIS_SR, graph.fps)
    hz = pitch.f0(samples, features.ANALYSIS_SR, graph.fps).hz
    dance = compose.compose("graph", feats.matrix, graph.fps, feats.beat_times, f0_hz=hz, graph=graph, seed=1)
    return {"module": compose.__file__, "method": dance.method, "summary": dance.summary(),
            "frames": len(dance.rotvecs), "fps": dance.fps, "moves": len(dance.moves),
            "travel": float(np.ptp(np.asarray(dance.root)[:, [0, 2]], axis=0).max())}


if __name__ == "__main__":
    phase, *args = sys.argv[1:]
    print("PROBE " + json.dumps({"install": install, "use": use}[phase](*args)))
