"""Shared fixtures. Blender tests use the real bpy module, kept out of the user's config."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Must happen before the first `import bpy` anywhere in the session.
_USER_RESOURCES = tempfile.mkdtemp(prefix="dance-blender-user-")
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture
def bpy_module():
    """The real bpy module with a factory-fresh, empty file around each test."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture(scope="session")
def blender_user_resources() -> Path:
    return Path(_USER_RESOURCES)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the mocap data is missing: expected {SHARED_DATA} (../shared/data beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def music_tracks() -> list[Path]:
    """The MIT-licensed tracks of immich-memories-music, sorted by name."""
    import immich_memories_music

    root = Path(immich_memories_music.__file__).parent / "tracks"
    tracks = sorted(root.rglob("*.opus"), key=lambda p: p.name)
    assert tracks, f"no tracks found under {root}"
    return tracks
