"""Build the installable extension zips, one per platform, with onnxruntime bundled as wheels.

    python tools/build_extension.py [--platform linux-x64 ...] [--models-dir models]
                                    [--output-dir dist] [--cache-dir build/wheels]
    python tools/build_extension.py --link EXTENSIONS_REPO_DIR

The extension is the package `dance_addon/` with the manifest `blender_manifest.toml` (at the
top of the repository) beside its `__init__.py`; nothing else of the repository (training/,
tests/, tools/, docs/...) goes in. For each platform: download the pinned wheels (once, cached
under `--cache-dir`), stage the package's files, the manifest, the shipped models in `models/`
(every folder of `--models-dir` holding a model.json, an LSTM, or a graph.json, an action graph)
and the wheels in `wheels/`, write `platforms` and `wheels` into the STAGED manifest (the source
manifest stays wheel-free, so a source tree linked into Blender uses the interpreter's own
onnxruntime), check that the wheels cover every dependency onnxruntime declares (numpy excepted:
Blender has its own, and bundling a second one breaks Blender), then validate and build with
Blender's own `blender_ext.py`. Prints each zip with its size. Why these versions: tools/README.md.

`--link DIR` builds nothing: it lays the source tree out as an installed extension in DIR (an
extensions repository folder such as Blender's `extensions/user_default`), a folder of symbolic
links named after the extension, for developing in a real Blender (the tests do the same).
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]
EXT_ID = "dance_addon"
PACKAGE = REPO / EXT_ID                        # its files are the extension's root
MANIFEST = REPO / "blender_manifest.toml"      # goes beside the package's __init__.py
SOURCE_CACHES = ("__pycache__", "*.pyc")       # never staged or linked

# Blender 4.2-5.0 bundle Python 3.11, 5.1 and later Python 3.13; Blender installs only the
# wheels matching its own Python, so each zip carries both.
PYTHON_VERSIONS = ("3.11", "3.13")

# Pure-Python dependencies, pinned as in requirements.txt.
_COMMON = ("flatbuffers==25.12.19", "packaging==26.3", "protobuf==7.36.2")
# onnxruntime 1.32 declares flatbuffers, numpy, packaging, protobuf.
_CURRENT = ("onnxruntime==1.32.0", *_COMMON)
# Microsoft builds no macOS x86-64 wheel after 1.23.2, which also declares coloredlogs and sympy.
_LAST_INTEL_MAC = ("onnxruntime==1.23.2", *_COMMON, "coloredlogs==15.0.1", "humanfriendly==10.0",
                   "sympy==1.14.0", "mpmath==1.3.0")

# Never bundled: Blender ships its own numpy (1.26 in 4.2-4.5, 2.x in 5.0+).
NOT_BUNDLED = frozenset({"numpy"})


@dataclass(frozen=True)
class Platform:
    """A Blender platform, the pip platform tag of its wheels and the requirements to bundle."""

    name: str  # Blender's name, e.g. "linux-x64"
    wheel_tag: str  # pip --platform, e.g. "manylinux_2_28_x86_64"
    sys_platform: str  # for environment markers in Requires-Dist
    requirements: tuple[str, ...]


PLATFORMS = {p.name: p for p in (
    Platform("linux-x64", "manylinux_2_28_x86_64", "linux", _CURRENT),
    Platform("windows-x64", "win_amd64", "win32", _CURRENT),
    Platform("macos-arm64", "macosx_14_0_arm64", "darwin", _CURRENT),
    Platform("macos-x64", "macosx_13_0_x86_64", "darwin", _LAST_INTEL_MAC),
)}


class BuildError(RuntimeError):
    """The extension cannot be built; the message says what failed and what to do."""


def blender_ext_tool() -> Path:
    """Blender's extension command-line tool inside the installed bpy package (bpy is not imported)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise BuildError("bpy is not installed: run `make setup` (it provides Blender's blender_ext.py)")
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise BuildError(f"blender_ext.py not found under {Path(spec.origin).parent}")
    return found[-1]


def download_wheels(platform: Platform, python_version: str, cache_dir: Path) -> list[Path]:
    """The platform's wheels for one Python version, downloaded with pip into the cache once.

    A folder's `requirements.txt` records what it holds; when it matches, pip is not run."""
    folder = cache_dir / platform.name / f"py{python_version}"
    stamp = folder / "requirements.txt"
    wanted = "\n".join(platform.requirements) + "\n"
    if not (stamp.is_file() and stamp.read_text() == wanted):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
               "--only-binary=:all:", "--no-deps", "--python-version", python_version,
               "--platform", platform.wheel_tag, "--dest", str(folder), *platform.requirements]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(f"downloading the {platform.name} wheels for Python {python_version} failed "
                             f"(is PyPI reachable?):\n{' '.join(cmd)}\n{done.stderr.strip()}")
        stamp.write_text(wanted)
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != len(platform.requirements):
        raise BuildError(f"{folder} holds {len(wheels)} wheels for {len(platform.requirements)} "
                         f"requirements: delete the folder and build again")
    return wheels


def _requires_dist(wheel: Path) -> list[Requirement]:
    name, version, _, _ = parse_wheel_filename(wheel.name)
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"{name.replace('-', '_')}-{version}.dist-info/METADATA").decode()
    return [Requirement(r) for r in Parser().parsestr(metadata).get_all("Requires-Dist") or []]


def check_dependencies(wheels: list[Path], platform: Platform, python_version: str) -> None:
    """Every runtime dependency a bundled wheel declares (for this platform and Python, no extras)
    is bundled in a matching version, except numpy, which must not be."""
    versions = {canonicalize_name(n): v for n, v, _, _ in map(lambda w: parse_wheel_filename(w.name), wheels)}
    if NOT_BUNDLED & versions.keys():
        raise BuildError(f"{platform.name}: {sorted(NOT_BUNDLED & versions.keys())} must not be bundled")
    env = {"python_version": python_version, "python_full_version": f"{python_version}.0",
           "sys_platform": platform.sys_platform, "extra": ""}
    for wheel in wheels:
        for req in _requires_dist(wheel):
            name = canonicalize_name(req.name)
            if (req.marker and not req.marker.evaluate(env)) or name in NOT_BUNDLED:
                continue
            if name not in versions or not req.specifier.contains(versions[name], prereleases=True):
                raise BuildError(f"{platform.name}, Python {python_version}: {wheel.name} needs {req}, "
                                 f"bundled: {versions.get(name, 'nothing')}; fix the pins in {Path(__file__).name}")


def manifest_with_wheels(source_manifest: str, platform: str, wheels: list[str]) -> str:
    """The manifest text with top-level `platforms` and `wheels` keys added before the first table."""
    lines = source_manifest.splitlines(keepends=True)
    first_table = next(i for i, line in enumerate(lines) if line.lstrip().startswith("["))
    added = [f'platforms = ["{platform}"]\n', "wheels = [\n", *(f'  "./wheels/{w}",\n' for w in wheels), "]\n\n"]
    text = "".join(lines[:first_table] + added + lines[first_table:])
    parsed = tomllib.loads(text)
    assert parsed["platforms"] == [platform] and len(parsed["wheels"]) == len(wheels)
    return text


# what makes a folder of --models-dir shipped: an LSTM model or an action graph
MANIFESTS = ("model.json", "graph.json")


def model_dirs(models_dir: Path) -> list[Path]:
    """The folders of `models_dir` that hold a model.json (an LSTM) or a graph.json (an action
    graph), sorted by name (none is fine)."""
    if not models_dir.is_dir():
        return []
    return sorted(d for d in models_dir.iterdir() if any((d / m).is_file() for m in MANIFESTS))


def extension_sources() -> list[Path]:
    """What the add-on is made of, each becoming an entry of the extension's root: the
    package's files and folders (its source caches left out) and the manifest."""
    caches = shutil.ignore_patterns(*SOURCE_CACHES)(str(PACKAGE), [p.name for p in PACKAGE.iterdir()])
    return sorted(p for p in PACKAGE.iterdir() if p.name not in caches) + [MANIFEST]


def stage(platform: Platform, models_dir: Path, cache_dir: Path, stage_root: Path) -> Path:
    """The extension's root for one platform: the package's files and the completed manifest,
    with models and graphs in models/ and the wheels in wheels/; returns its folder."""
    wheels: dict[str, Path] = {}
    for python_version in PYTHON_VERSIONS:
        found = download_wheels(platform, python_version, cache_dir)
        check_dependencies(found, platform, python_version)
        wheels.update((w.name, w) for w in found)  # pure wheels are the same file for both versions

    folder = stage_root / platform.name / EXT_ID
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    for source in extension_sources():
        if source.is_dir():
            shutil.copytree(source, folder / source.name, ignore=shutil.ignore_patterns(*SOURCE_CACHES))
        else:
            shutil.copy2(source, folder / source.name)
    for model in model_dirs(models_dir):
        shutil.copytree(model, folder / "models" / model.name)
    (folder / "wheels").mkdir()
    for name, wheel in wheels.items():
        shutil.copy2(wheel, folder / "wheels" / name)
    manifest = folder / MANIFEST.name
    manifest.write_text(manifest_with_wheels(manifest.read_text(), platform.name, sorted(wheels)))
    return folder


def link_source(repo_dir: Path) -> Path:
    """The source tree laid out as an installed extension in the extensions repository folder
    `repo_dir`: `repo_dir/dance_addon/`, holding a symbolic link to each of `extension_sources()`
    (links left from an older layout are removed). Linked, the add-on uses the interpreter's own
    onnxruntime and the repository's models/ (model_folders resolves the links). Returns the folder."""
    folder = repo_dir / EXT_ID
    if folder.is_symlink():                      # the old way: the package folder itself linked
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    entries = [e.name for e in folder.iterdir() if not e.is_symlink()]
    copied = sorted(set(entries) - shutil.ignore_patterns(*SOURCE_CACHES)(str(folder), entries))
    if copied:
        raise BuildError(f"{folder} holds an installed copy of the extension ({', '.join(copied)}); "
                         "uninstall it in Blender first")
    sources = {p.name: p for p in extension_sources()}
    for entry in folder.iterdir():
        if entry.is_symlink() and (entry.name not in sources or entry.resolve() != sources[entry.name]):
            entry.unlink()
    for name, source in sources.items():
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(source, target_is_directory=source.is_dir())
    return folder


def _run_tool(*args: str) -> None:
    cmd = [sys.executable, str(blender_ext_tool()), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")


def build(platforms: list[str], models_dir: Path, output_dir: Path, cache_dir: Path,
          stage_root: Path) -> list[Path]:
    """Validate and build one zip per platform into `output_dir`; returns the zip paths."""
    unknown = sorted(set(platforms) - PLATFORMS.keys())
    if unknown:
        raise BuildError(f"unknown platform(s) {unknown}: choose from {sorted(PLATFORMS)}")
    output_dir.mkdir(parents=True, exist_ok=True)
    zips = []
    for name in platforms:
        folder = stage(PLATFORMS[name], models_dir, cache_dir, stage_root)
        _run_tool("validate", str(folder))
        pattern = f"{EXT_ID}-*-{name.replace('-', '_')}.zip"  # Blender's --split-platforms name
        for old in output_dir.glob(pattern):
            old.unlink()
        _run_tool("build", "--source-dir", str(folder), "--output-dir", str(output_dir), "--split-platforms")
        made = sorted(output_dir.glob(pattern))
        if len(made) != 1:
            raise BuildError(f"expected one {name} zip in {output_dir}, found {[p.name for p in made]}")
        _run_tool("validate", str(made[0]))
        zips.append(made[0])
    return zips


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                   help="build only this platform (repeatable); default: all")
    p.add_argument("--models-dir", type=Path, default=REPO / "models")
    p.add_argument("--output-dir", type=Path, default=REPO / "dist")
    p.add_argument("--cache-dir", type=Path, default=REPO / "build" / "wheels")
    p.add_argument("--stage-dir", type=Path, default=REPO / "build" / "stage")
    p.add_argument("--link", type=Path, metavar="EXTENSIONS_REPO_DIR",
                   help="build nothing: link the source tree into this extensions folder as an installed extension")
    a = p.parse_args(argv)
    try:
        if a.link:
            print(link_source(a.link))
            return
        zips = build(a.platform or list(PLATFORMS), a.models_dir, a.output_dir, a.cache_dir, a.stage_dir)
    except BuildError as e:
        sys.exit(f"build_extension: {e}")
    for z in zips:
        print(f"{z.stat().st_size / 2**20:7.1f} MiB  {z}")


if __name__ == "__main__":
    main()
