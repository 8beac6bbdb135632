"""Sound strips of a scene and the stretch of audio each plays on the timeline.

Placement, as Blender plays a sound strip: the strip's content starts at `frame_start`; trims hide
`frame_offset_start` frames at the front, so it sounds from `frame_final_start` to
`frame_final_end` (exclusive); `sound_offset` shifts the source by that many seconds. The source
time heard at scene frame f is therefore
    t(f) = (f - frame_start) / scene_fps + sound_offset
with scene_fps = render.fps / render.fps_base. Strip speed changes (retiming keys) are not
followed: a retimed strip is refused.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..core.music import features as music


class StripError(ValueError):
    """The sound strip cannot be used for a bake (missing file, retimed, empty span...)."""


@dataclass(frozen=True)
class StripSpan:
    name: str
    filepath: str          # absolute
    first_frame: int       # first scene frame that sounds
    end_frame: int         # one past the last scene frame that sounds
    scene_fps: float
    source_start: float    # source seconds heard at first_frame

    @property
    def frame_count(self) -> int:
        return self.end_frame - self.first_frame

    @property
    def duration(self) -> float:
        return self.frame_count / self.scene_fps

    def source_time(self, frame: float) -> float:
        return self.source_start + (frame - self.first_frame) / self.scene_fps


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def sound_strips(scene: bpy.types.Scene) -> list:
    """Every sound strip of the scene (including inside meta strips), by channel then start."""
    se = scene.sequence_editor
    if se is None:
        return []
    strips = se.strips_all if hasattr(se, "strips_all") else se.sequences_all
    found = [s for s in strips if s.type == "SOUND"]
    return sorted(found, key=lambda s: (s.channel, s.frame_final_start, s.name))


def strip_span(scene: bpy.types.Scene, strip) -> StripSpan:
    """Where the strip sounds on the timeline and which part of its file it plays there."""
    if strip is None or strip.type != "SOUND":
        raise StripError("pick a sound strip: add one in the Video Sequencer (Add > Sound)")
    if strip.sound is None:
        raise StripError(f"sound strip '{strip.name}' has no sound data-block")
    if len(getattr(strip, "retiming_keys", ())) > 0:
        raise StripError(f"sound strip '{strip.name}' has retiming keys (its speed may be changed); "
                         "remove them (Strip > Retiming > Reset) to bake")
    path = bpy.path.abspath(strip.sound.filepath, library=strip.sound.library)
    fps = scene_fps(scene)
    first, end = int(strip.frame_final_start), int(strip.frame_final_end)
    if end <= first:
        raise StripError(f"sound strip '{strip.name}' spans no frames")
    source_start = (first - strip.frame_start) / fps + strip.sound_offset
    return StripSpan(strip.name, path, first, end, fps, source_start)


@dataclass(frozen=True)
class StripAudio:
    """Where a strip's sound comes from, read off the file on Blender's main thread so that a worker
    thread can decode it later (decode_audio) without touching bpy: its file, or the copy packed
    into the .blend (that is what Blender plays) when there is one."""
    name: str              # the strip's name, for messages
    path: str              # absolute
    packed: bytes | None   # the packed copy's bytes, else None


def strip_audio(strip) -> StripAudio:
    """The strip's sound source (main thread: reads bpy)."""
    packed = strip.sound.packed_file
    path = bpy.path.abspath(strip.sound.filepath, library=strip.sound.library)
    return StripAudio(strip.name, path, None if packed is None else bytes(packed.data))


def decode_audio(audio: StripAudio) -> np.ndarray:
    """The sound as mono samples at the analysis rate (music.load_audio); no bpy access, so any thread."""
    if audio.packed is None:
        return music.load_audio(audio.path)
    with tempfile.TemporaryDirectory(prefix="dance-packed-") as folder:
        copy = Path(folder) / (Path(audio.path).name or "packed_sound")
        copy.write_bytes(audio.packed)
        try:
            return music.load_audio(copy)
        except music.AudioError as e:
            raise music.AudioError(f"the sound packed into the .blend for '{audio.name}' ({Path(audio.path).name}): "
                                   f"{str(e).split(': ', 1)[-1]}") from None


def decode_strip_audio(strip) -> np.ndarray:
    """The strip's sound as mono samples at the analysis rate (strip_audio, then decode_audio)."""
    return decode_audio(strip_audio(strip))
