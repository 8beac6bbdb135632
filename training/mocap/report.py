"""Per-bone check of the mocap import against the source BVH files: `python -m training.mocap.report`.

For every file of every dataset in ../shared/data: convert, run our forward kinematics, and
compare each mapped bone's world direction with the source's (cosine per frame, mean per file).
Our forward kinematics runs twice: on the source's own proportions (the check of the conversion:
every bone must reach 0.98), and on SMPL's proportions (what the model sees). Printed per dataset
and bone: the lowest per-file mean on source proportions and its file, then on SMPL proportions
the lowest per-file mean, the lowest single frame, the cosine in that file's reference pose (a
constant difference of rest geometry: where the two skeletons put hip and collar joints relative
to the pelvis and chest; no rotation removes it), and the drift: the largest departure of any
frame's cosine from its reference-pose value, i.e. the error the motion itself adds. Also the
frame-rate check: gravity fitted to jump flights (the toe ends and every other joint off the floor)
and hand speeds.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dance_addon.core.motion.rotations import resample_times

from .convert import file_cosines, load_reference, read_source, source_indices
from .mappings import DATASETS, SourceMapping

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def flight_gravity(root_y: np.ndarray, toe_y: np.ndarray, fps: float, min_frames: int = 10,
                   body_y: np.ndarray | None = None) -> list[float]:
    """g (m/s^2) from a parabola fitted to the pelvis height over each flight phase: runs of at
    least min_frames frames with both toe ends 6 cm above the floor (their median low point)
    and, given body_y (N, K) the heights of the other joints, every joint 10 cm above it (no
    hand, knee or hip on the floor: floor work lifts the toes without a flight), kept when the
    parabola fits within 5 mm RMS and peaks inside the run (a ballistic arc, not a slow rise
    onto the toes). A frame rate off by 2x would give g off by 4x."""
    low = toe_y.min(axis=1)
    floor = np.median(low)
    air = low > floor + 0.06
    if body_y is not None:
        air &= body_y.min(axis=1) > floor + 0.10
    out, start = [], None
    for k, flag in enumerate(np.append(air, False)):
        if flag and start is None:
            start = k
        elif not flag and start is not None:
            if k - start >= min_frames:
                t = np.arange(start + 1, k - 1) / fps   # drop take-off and landing frames
                y = root_y[start + 1:k - 1]
                c = np.polyfit(t, y, 2)
                rms = np.sqrt(np.mean((np.polyval(c, t) - y) ** 2))
                apex = -c[1] / (2 * c[0]) if c[0] != 0 else -1.0
                if rms < 0.005 and t[0] < apex < t[-1]:
                    out.append(-2.0 * c[0])
            start = None
    return out


def dataset_report(mapping: SourceMapping, data_dir: Path, fps: float) -> dict:
    """Per-bone figures and totals for one dataset (see the module docstring)."""
    reference = load_reference(mapping, data_dir)
    files = sorted((data_dir / mapping.folder).glob("*.bvh"))
    bones: dict[str, dict] = {}
    frames_out, gravity, hand_speed = 0, [], []
    for path in files:
        motion = read_source(path, mapping)
        src_fps = mapping.fps or motion.fps
        frames_out += len(resample_times(motion.num_frames, src_fps, fps))
        for name, check in file_cosines(motion, mapping, reference).items():
            cos, ref = check.smpl, check.reference
            b = bones.setdefault(name, {"mean": 2.0, "file": "", "frame_min": 2.0, "ref": 0.0, "drift": 0.0,
                                        "own": 2.0, "own_file": ""})
            if check.source.mean() < b["own"]:
                b.update(own=float(check.source.mean()), own_file=path.name)
            if cos.mean() < b["mean"]:
                b.update(mean=float(cos.mean()), file=path.name, ref=ref)
            b["frame_min"] = min(b["frame_min"], float(cos.min()))
            b["drift"] = max(b["drift"], float(np.abs(cos - ref).max()))
        _, pos = motion.world_transforms()
        idx = source_indices(motion, mapping)
        gravity += flight_gravity(pos[:, idx[0], 1], pos[:, idx[20:22], 1], src_fps, body_y=pos[:, idx[:20], 1])
        hand_speed.append(np.linalg.norm(np.diff(pos[:, idx[[18, 19]]], axis=0), axis=-1).ravel() * src_fps)
    speeds = np.concatenate(hand_speed)
    return {"bones": bones, "files": len(files), "frames": frames_out, "gravity": gravity,
            "hand_speed": (float(speeds.mean()), float(np.percentile(speeds, 99)))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder holding cmu-salsa/ and the other datasets")
    parser.add_argument("--fps", type=float, default=30.0, help="target frame rate of the conversion")
    args = parser.parse_args(argv)
    worst, worst_tracked, worst_drift = (2.0, "", "", 0.0), (2.0, "", ""), (0.0, "", "")
    worst_own = (2.0, "", "")
    for mapping in DATASETS:
        rep = dataset_report(mapping, args.data, args.fps)
        minutes = rep["frames"] / args.fps / 60.0
        print(f"\n{mapping.name}: {rep['files']} files, {rep['frames']} frames at {args.fps:g} fps "
              f"({minutes:.2f} min); {mapping.note}")
        print(f"  {'':30s} {'source proportions':21s} | {'SMPL proportions'}")
        print(f"  {'bone':30s} {'mean cos':>8s} {'(worst file)':12s} | {'mean cos':>8s} {'(worst file)':12s} "
              f"{'min frame':>9s} {'ref pose':>8s} {'drift':>7s}")
        for name, b in rep["bones"].items():
            flag = "" if b["mean"] >= 0.98 else "  < 0.98: " + ("rest geometry" if b["drift"] < 0.01 else "MOTION")
            print(f"  {name:30s} {b['own']:8.4f} {b['own_file']:12s} | {b['mean']:8.4f} {b['file']:12s} "
                  f"{b['frame_min']:9.4f} {b['ref']:8.4f} {b['drift']:7.4f}{flag}")
            worst_own = min(worst_own, (b["own"], name, f"{mapping.name}/{b['own_file']}"))
            where = f"{mapping.name}/{b['file']}"
            worst = min(worst, (b["mean"], name, where, b["drift"]))
            if b["drift"] >= 0.01 or b["mean"] >= 0.98:
                worst_tracked = min(worst_tracked, (b["mean"], name, where))
            worst_drift = max(worst_drift, (b["drift"], name, mapping.name))
        g = rep["gravity"]
        g_text = ("g per flight " + " ".join(f"{v:.1f}" for v in sorted(g)) + " m/s^2 (true jumps near 9.8; "
                  "slow lifts onto the toes fit lower)" if g else "no flight phase found")
        print(f"  frame-rate check: jump-flight gravity {g_text}; hand speed mean "
              f"{rep['hand_speed'][0]:.2f} m/s, 99th percentile {rep['hand_speed'][1]:.2f} m/s")
    print(f"\nworst bone on source proportions: {worst_own[1]} in {worst_own[2]}, mean cosine {worst_own[0]:.4f}")
    print(f"worst bone on SMPL proportions: {worst[1]} in {worst[2]}, mean cosine {worst[0]:.4f}"
          + (" (constant: rest geometry)" if worst[3] < 0.01 else ""))
    print(f"worst bone apart from constant rest-geometry ones: {worst_tracked[1]} in {worst_tracked[2]}, "
          f"mean cosine {worst_tracked[0]:.4f}")
    print(f"largest drift from the reference-pose cosine: {worst_drift[0]:.4f} ({worst_drift[1]}, {worst_drift[2]})")


if __name__ == "__main__":
    main()
