"""Music-motion pairs from the CMU mocap (which has no music) and the immich-memories-music tracks.

How a pair is made (the honest substitute for dancers recorded to music):
1. A clip (canonical motion, 30 fps) and a real track are taken. The clip's kinematic beats are
   Bailando's: local minima of the smoothed mean joint speed (training.evaluation.beats). The
   track's beats are our beat tracker's (dance_addon.core.music.features), the ones the model hears.
2. Motion beats are matched in order to music beats with a bounded local stretch
   (training.data.warp, at most 1.35x faster or slower), and the clip is resampled along the
   piecewise-linear time map through the matched pairs (slerp for rotations).
3. The pair is the stretch of the track where the warped clip has motion, with the track's
   feature rows of exactly those frames, so music and motion stay frame-aligned.
Every clip is paired with several tracks (a different warp each time); held-out clips only with
held-out tracks. The measure of the result is the Beat Align Score (Bailando's recipe, music
beats from librosa on the percussive part) of the warped pairs, printed beside the score of the
same clips played at their captured timing on the same music (`python -m training.data.pairs`).

On-disk format (what training.train.load_pairs reads): a folder of `<name>.npz` with `rotvecs`
(T, 20, 3) radians, `root_translation` (T, 3) metres, `music` (T, F) float32, `fps`,
`features_version`, `feature_columns`, and `<name>.json` with the pair's provenance.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dance_addon.core.motion.rotations import (
    quat_to_rotvec,
    rotvec_continuity,
    rotvec_to_quat,
    sample_linear,
    sample_quats,
)
from dance_addon.core.motion.skeleton import forward_kinematics
from dance_addon.core.music import features as music_mod
from training.data.clips import CACHE_DIR, FPS, Clip, Split, load_clips, load_split
from training.data.warp import match_beats, warp_positions
from training.evaluation.beats import beat_align_score_bailando, kinematic_beats_bailando, music_beats_librosa

MIN_PAIR_SECONDS = 4.0
MUSIC_CACHE = CACHE_DIR.parent / "music"
LICENCES = {
    "cmu": "CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu): free for all uses, may not be resold",
    "music": "immich-memories-music (MIT)",
}


@dataclass(frozen=True)
class Track:
    name: str
    path: Path
    features: music_mod.MusicFeatures
    librosa_beats: np.ndarray  # seconds, Bailando's recipe (for the score only)


@dataclass(frozen=True)
class Pair:
    name: str
    rotvecs: np.ndarray           # (T, 20, 3)
    root_translation: np.ndarray  # (T, 3)
    music: np.ndarray             # (T, F)
    music_start: float            # seconds into the track of frame 0
    provenance: dict


def track_paths() -> dict[str, Path]:
    """immich-memories-music tracks by file stem."""
    import immich_memories_music

    root = Path(immich_memories_music.__file__).parent / "tracks"
    return {p.stem: p for p in sorted(root.rglob("*.opus"))}


def load_track(name: str, path: Path, fps: float = FPS, cache_dir: Path | None = MUSIC_CACHE) -> Track:
    """A track's features at fps and its librosa beats, cached outside git."""
    cached = Path(cache_dir) / f"{name}-{music_mod.FEATURES_VERSION}-{fps:g}.npz" if cache_dir else None
    if cached is not None and cached.exists():
        with np.load(cached) as z:
            feats = music_mod.MusicFeatures(z["matrix"], float(z["fps"]), float(z["tempo"]), z["beats"],
                                            z["beat_times"], z["downbeats"])
            return Track(name, path, feats, z["librosa_beats"])
    samples = music_mod.load_audio(path)
    feats = music_mod.extract_features(samples, music_mod.ANALYSIS_SR, fps, source=str(path))
    lb = music_beats_librosa(samples, music_mod.ANALYSIS_SR)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, matrix=feats.matrix, fps=feats.fps, tempo=feats.tempo, beats=feats.beats,
                 beat_times=feats.beat_times, downbeats=feats.downbeats, librosa_beats=lb)
    return Track(name, path, feats, lb)


def clip_positions(rotvecs: np.ndarray, root: np.ndarray) -> np.ndarray:
    return forward_kinematics(rotvecs, root)


def make_pair(clip: Clip, track: Track, max_stretch: float | None = None) -> Pair | None:
    """Warp the clip onto the track's beats; None when the warped clip covers under MIN_PAIR_SECONDS."""
    fps = clip.fps
    motion_beats = kinematic_beats_bailando(clip_positions(clip.rotvecs, clip.root_translation), fps) / 60.0
    kw = {} if max_stretch is None else {"max_stretch": max_stretch}
    matched = match_beats(motion_beats, track.features.beat_times, **kw)
    n_music = len(track.features.matrix)
    duration = (len(clip.rotvecs) - 1) / fps
    motion_t = warp_positions(matched, n_music, fps, duration)          # (n_music,) seconds or NaN
    valid = np.isfinite(motion_t)
    if not valid.any():
        return None
    # the longest run of frames with motion
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(int), [0]])))
    runs = edges.reshape(-1, 2)
    start, stop = runs[np.argmax(runs[:, 1] - runs[:, 0])]
    if (stop - start) / fps < MIN_PAIR_SECONDS:
        return None
    pos = motion_t[start:stop] * fps                                      # fractional clip frames
    quats = sample_quats(rotvec_to_quat(clip.rotvecs.astype(np.float64)), pos)
    rotvecs = rotvec_continuity(quat_to_rotvec(quats)).astype(np.float32)     # no jumps at half turns
    root = sample_linear(clip.root_translation, pos).astype(np.float32)
    rates = np.diff(motion_t[start:stop]) * fps                           # clip frames per music frame
    prov = {
        "clip": clip.name, "track": track.name, "music_start_s": start / fps, "frames": int(stop - start),
        "matched_beats": len(matched), "stretch_min": float(rates.min()), "stretch_max": float(rates.max()),
        "motion_licence": LICENCES["cmu"], "music_licence": LICENCES["music"],
    }
    name = f"{clip.name.replace('/', '_')}__{track.name}"
    return Pair(name, rotvecs, root, track.features.matrix[start:stop], start / fps, prov)


def unwarped_pair(clip: Clip, track: Track) -> Pair:
    """The clip at its captured timing from the track's start (the baseline the warp is measured against)."""
    n = min(len(clip.rotvecs), len(track.features.matrix))
    return Pair(f"{clip.name}__{track.name}__unwarped", clip.rotvecs[:n], clip.root_translation[:n],
                track.features.matrix[:n], 0.0, {"clip": clip.name, "track": track.name})


def pair_score(pair: Pair, track: Track, fps: float = FPS) -> float:
    """Bailando's Beat Align Score of the pair on its own stretch of music (librosa beats)."""
    beats = track.librosa_beats - pair.music_start
    beats = beats[(beats >= 0) & (beats < len(pair.rotvecs) / fps)]
    return beat_align_score_bailando(clip_positions(pair.rotvecs, pair.root_translation), fps, beats)


def choose_tracks(clips: list[Clip], tracks: list[str], per_clip: int, seed: int) -> list[tuple[Clip, str]]:
    """Each clip with `per_clip` distinct tracks, spread evenly over the tracks, seeded."""
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(tracks))
    out, k = [], 0
    for clip in clips:
        chosen = []
        while len(chosen) < min(per_clip, len(tracks)):
            t = order[k % len(order)]
            k += 1
            if t not in chosen:
                chosen.append(t)
        out += [(clip, t) for t in chosen]
    return out


def split_clips(clips: list[Clip], split: Split, part: str) -> list[Clip]:
    keep = [c for c in clips if c.name not in split.excluded_clips]
    if part == "train":
        return [c for c in keep if c.name not in split.heldout_clips]
    if part == "heldout":
        return [c for c in keep if c.name in split.heldout_clips]
    raise ValueError(f"part must be 'train' or 'heldout', not {part!r}")


def split_tracks(split: Split, part: str) -> list[str]:
    names = sorted(track_paths())
    return [t for t in names if (t in split.heldout_tracks) == (part == "heldout")]


def build_pairs(part: str, per_clip: int = 4, seed: int = 0, progress=None) -> tuple[list[Pair], dict[str, Track]]:
    """The pairs of one part of the split ('train' or 'heldout') and the tracks they use."""
    split = load_split()
    clips = split_clips(load_clips(), split, part)
    paths = track_paths()
    tracks = {t: load_track(t, paths[t]) for t in split_tracks(split, part)}
    pairs = []
    todo = choose_tracks(clips, list(tracks), per_clip, seed)
    for k, (clip, t) in enumerate(todo):
        pair = make_pair(clip, tracks[t])
        if pair is not None:
            pairs.append(pair)
        if progress:
            progress(k + 1, len(todo))
    return pairs, tracks


def save_pairs(pairs: list[Pair], out_dir: Path, fps: float = FPS) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in list(out_dir.glob("*.npz")) + list(out_dir.glob("*.json")):
        old.unlink()
    for p in pairs:
        np.savez(out_dir / f"{p.name}.npz", rotvecs=p.rotvecs, root_translation=p.root_translation,
                 music=p.music.astype(np.float32), fps=fps, features_version=music_mod.FEATURES_VERSION,
                 feature_columns=np.array(music_mod.FEATURE_COLUMNS))
        (out_dir / f"{p.name}.json").write_text(json.dumps(p.provenance, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build music-motion pairs and print their beat alignment.")
    parser.add_argument("--out", type=Path, default=CACHE_DIR.parent / "pairs",
                        help="folder for train/ and heldout/ pair files")
    parser.add_argument("--per-clip", type=int, default=4, help="tracks each training clip is paired with")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for part, per_clip in (("train", args.per_clip), ("heldout", 2)):
        pairs, tracks = build_pairs(part, per_clip, args.seed)
        save_pairs(pairs, args.out / part)
        warped = [pair_score(p, tracks[p.provenance["track"]]) for p in pairs]
        clips = {c.name: c for c in load_clips()}
        plain = [pair_score(unwarped_pair(clips[p.provenance["clip"]], tracks[p.provenance["track"]]),
                            tracks[p.provenance["track"]]) for p in pairs]
        minutes = sum(len(p.rotvecs) for p in pairs) / FPS / 60
        print(f"{part}: {len(pairs)} pairs, {minutes:.1f} min, {len(tracks)} tracks -> {args.out / part}")
        print(f"  beat align score (Bailando, librosa beats): warped pairs {np.mean(warped):.3f} "
              f"(min {np.min(warped):.3f}), same clips at captured timing {np.mean(plain):.3f}")


if __name__ == "__main__":
    main()
