"""BVH motion files: a reader for any hierarchy and a writer for the canonical skeleton.

Conventions of the reader (the BVH format leaves some of them open; these are Blender's):
- Each joint's CHANNELS apply in the order written. Rotation channels are intrinsic Euler
  angles in degrees: "Zrotation Xrotation Yrotation" means R = Rz @ Rx @ Ry.
- A joint's translation from its parent is its OFFSET, except that position channels, on any
  joint, replace the matching OFFSET component (Blender's importer does the same).
- World transform: world_rot[j] = world_rot[parent] @ R[j],
  world_pos[j] = world_pos[parent] + world_rot[parent] @ translation[j].
- End Sites become joints of their own, named "<parent>_end", with no channels.
- Lengths are kept in file units in BvhMotion; `scale` (metres per file unit) converts them.
  Every method that returns lengths returns metres.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rotations import euler_to_matrix, matrix_to_euler, rotvec_to_matrix
from .skeleton import END_OFFSETS, JOINT_NAMES, NUM_JOINTS, PARENTS, REST_OFFSETS, as_motion

ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
END_SUFFIX = "_end"

# End Site of the canonical head written by write_bvh: the top of the head, metres above the
# SMPL head joint (which sits at the base of the skull). Only drawn by other tools.
HEAD_END_OFFSET = np.array([0.0, 0.2, 0.0])


class BvhError(ValueError):
    """A BVH file (or a request about one) that cannot be honoured; the message names the file,
    and the line or joint, and what is wrong."""


@dataclass(frozen=True)
class BvhMotion:
    """A parsed BVH file.

    names/parents/offsets/channels: one entry per joint in file order (End Sites included,
    parents[j] < j, the root's parent is -1). offsets (J, 3) are in file units.
    frames: (N, C) channel values in file order, C = sum of len(channels[j]).
    scale: metres per file unit.
    """

    path: str
    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray                    # (J, 3) file units
    channels: tuple[tuple[str, ...], ...]
    frame_time: float                      # seconds
    frames: np.ndarray                     # (N, C)
    scale: float                           # metres per file unit

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def joint_index(self, name: str) -> int:
        """Index of a joint by name; a BvhError naming the joint and the file if it is absent."""
        try:
            return self.names.index(name)
        except ValueError:
            raise BvhError(f"{self.path}: no joint named '{name}' in this file "
                           f"(it has {len([n for n in self.names if not n.endswith(END_SUFFIX)])} joints, "
                           f"e.g. {', '.join(self.names[:6])})") from None

    def _channel_columns(self) -> list[dict[str, int]]:
        cols, start = [], 0
        for chans in self.channels:
            cols.append({c: start + k for k, c in enumerate(chans)})
            start += len(chans)
        return cols

    def local_rotations(self) -> np.ndarray:
        """(N, J, 3, 3) rotation of every joint relative to its parent, per frame."""
        n, j = self.num_frames, len(self.names)
        out = np.broadcast_to(np.eye(3), (n, j, 3, 3)).copy()
        for k, cols in enumerate(self._channel_columns()):
            order = "".join(c[0] for c in self.channels[k] if c in ROTATION_CHANNELS)
            if order:
                angles = self.frames[:, [cols[f"{a}rotation"] for a in order]]
                out[:, k] = euler_to_matrix(np.deg2rad(angles), order)
        return out

    def local_translations(self) -> np.ndarray:
        """(N, J, 3) translation of every joint from its parent in the parent's frame, metres."""
        out = np.broadcast_to(self.offsets, (self.num_frames,) + self.offsets.shape).copy()
        for k, cols in enumerate(self._channel_columns()):
            for axis, name in enumerate(POSITION_CHANNELS):
                if name in cols:
                    out[:, k, axis] = self.frames[:, cols[name]]
        return out * self.scale

    def world_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (N, J, 3, 3) and positions (N, J, 3) in metres, by forward kinematics."""
        local_r = self.local_rotations()
        local_t = self.local_translations()
        rot = np.empty_like(local_r)
        pos = np.empty_like(local_t)
        for k, p in enumerate(self.parents):
            if p < 0:
                rot[:, k], pos[:, k] = local_r[:, k], local_t[:, k]
            else:
                rot[:, k] = rot[:, p] @ local_r[:, k]
                pos[:, k] = pos[:, p] + np.einsum("nab,nb->na", rot[:, p], local_t[:, k])
        return rot, pos

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions in metres with every channel at zero (offsets only)."""
        pos = np.zeros((len(self.names), 3))
        for k, p in enumerate(self.parents):
            pos[k] = self.offsets[k] * self.scale + (pos[p] if p >= 0 else 0.0)
        return pos


def guess_scale(offsets: np.ndarray, path: str = "<bvh>") -> float:
    """Metres per file unit from the longest bone (offsets (J, 3) in file order, the root's
    first and left out): a human's (thigh or shin, 0.3-0.6 m) is 0.1-1.5 in metres, 10-150 in
    centimetres, 150-1500 in millimetres. Anything else (or a non-human skeleton): pass
    `scale` to read_bvh explicitly."""
    longest = float(np.linalg.norm(offsets[1:], axis=1).max(initial=0.0))
    for low, high, scale in ((0.1, 1.5, 1.0), (10.0, 150.0, 0.01), (150.0, 1500.0, 0.001)):
        if low <= longest < high:
            return scale
    raise BvhError(f"{path}: cannot tell the length unit (longest bone {longest:g} file units); "
                   "pass scale= (metres per file unit)")


class _Tokens:
    """Whitespace tokens of the HIERARCHY part, each with its 1-based line number."""

    def __init__(self, path: str, lines: list[str]):
        self.path = path
        self.items = [(tok, n + 1) for n, line in enumerate(lines) for tok in line.split()]
        self.pos = 0
        self.last_line = len(lines)

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise BvhError(f"{self.path}, line {self.last_line}: the file ends early, expected {what}")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def expect(self, word: str) -> int:
        tok, line = self.next(f"'{word}'")
        if tok != word:
            raise BvhError(f"{self.path}, line {line}: expected '{word}', found '{tok}'")
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            raise BvhError(f"{self.path}, line {line}: expected a number ({what}), found '{tok}'") from None
        if not np.isfinite(value):
            raise BvhError(f"{self.path}, line {line}: {what} is not finite ('{tok}')")
        return value


def _parse_joint(tok: _Tokens, name: str, parent: int, names: list, parents: list,
                 offsets: list, channels: list) -> None:
    index = len(names)
    names.append(name)
    parents.append(parent)
    tok.expect("{")
    tok.expect("OFFSET")
    offsets.append([tok.number(f"OFFSET of '{name}'") for _ in range(3)])
    chans: list[str] = []
    word, line = tok.next(f"CHANNELS, JOINT, End Site or '}}' in '{name}'")
    if word == "CHANNELS":
        count_tok, line = tok.next(f"the channel count of '{name}'")
        if not count_tok.isdigit():
            raise BvhError(f"{tok.path}, line {line}: expected a channel count for '{name}', found '{count_tok}'")
        for _ in range(int(count_tok)):
            c, cline = tok.next(f"a channel name of '{name}'")
            if c not in ROTATION_CHANNELS + POSITION_CHANNELS or c in chans:
                raise BvhError(f"{tok.path}, line {cline}: bad or repeated channel '{c}' for '{name}'; "
                               f"channels are {', '.join(POSITION_CHANNELS + ROTATION_CHANNELS)}")
            chans.append(c)
        word, line = tok.next(f"JOINT, End Site or '}}' in '{name}'")
    channels.append(tuple(chans))
    while word != "}":
        if word == "JOINT":
            child, _ = tok.next("a joint name")
            _parse_joint(tok, child, index, names, parents, offsets, channels)
        elif word == "End":
            tok.expect("Site")
            names.append(name + END_SUFFIX)
            parents.append(index)
            channels.append(())
            tok.expect("{")
            tok.expect("OFFSET")
            offsets.append([tok.number(f"End Site OFFSET of '{name}'") for _ in range(3)])
            tok.expect("}")
        else:
            raise BvhError(f"{tok.path}, line {line}: expected JOINT, End Site or '}}' in '{name}', found '{word}'")
        word, line = tok.next(f"JOINT, End Site or '}}' in '{name}'")


def read_bvh(path: str | os.PathLike, scale: float | None = None) -> BvhMotion:
    """Parse a BVH file. scale: metres per file unit; None guesses it (see guess_scale).

    Raises BvhError naming the file and line for a malformed or truncated file, a frame line
    with the wrong number of values, or a 'Frames:' count that disagrees with the data.
    """
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BvhError(f"{path}: cannot read the file ({exc.strerror})") from None
    lines = text.splitlines()
    motion_at = next((n for n, line in enumerate(lines) if line.strip() == "MOTION"), None)
    if motion_at is None:
        raise BvhError(f"{path}: no MOTION line; the file is truncated or not a BVH file")

    tok = _Tokens(path, lines[:motion_at])
    tok.expect("HIERARCHY")
    tok.expect("ROOT")
    root, _ = tok.next("the root joint's name")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    _parse_joint(tok, root, -1, names, parents, offsets, channels)
    if tok.pos != len(tok.items):
        extra, line = tok.items[tok.pos]
        raise BvhError(f"{path}, line {line}: unexpected '{extra}' after the hierarchy (only one ROOT is read)")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise BvhError(f"{path}: joint name '{dup}' appears twice")
    num_channels = sum(len(c) for c in channels)

    n_frames, frame_time, data_start = _read_motion_header(path, lines, motion_at)
    rows = [(n + 1, line.split()) for n, line in enumerate(lines[data_start:], start=data_start) if line.strip()]
    for line_no, row in rows:
        if len(row) != num_channels:
            raise BvhError(f"{path}, line {line_no}: {len(row)} values on a frame line, the hierarchy "
                           f"has {num_channels} channels")
    if len(rows) != n_frames:
        where = f"line {rows[-1][0]}" if rows else f"line {data_start}"
        raise BvhError(f"{path}, {where}: 'Frames: {n_frames}' but the file holds {len(rows)} frame lines"
                       + (" (truncated?)" if len(rows) < n_frames else ""))
    try:
        frames = np.array([v for _, row in rows for v in row], dtype=np.float64)
    except ValueError:
        frames = None
    if frames is None or not np.all(np.isfinite(frames)):
        for line_no, row in rows:
            for v in row:
                try:
                    ok = np.isfinite(float(v))
                except ValueError:
                    ok = False
                if not ok:
                    raise BvhError(f"{path}, line {line_no}: '{v}' is not a finite number")
    frames = frames.reshape(n_frames, num_channels)

    offsets_arr = np.array(offsets, dtype=np.float64).reshape(-1, 3)
    if scale is None:
        scale = guess_scale(offsets_arr, path)
    elif not scale > 0:
        raise BvhError(f"{path}: scale must be a positive number of metres per file unit, got {scale}")
    return BvhMotion(path=path, names=tuple(names), parents=tuple(parents), offsets=offsets_arr,
                     channels=tuple(channels), frame_time=frame_time, frames=frames, scale=float(scale))


def _read_motion_header(path: str, lines: list[str], motion_at: int) -> tuple[int, float, int]:
    """'Frames: N' and 'Frame Time: t' after MOTION -> (N, t, index of the first data line)."""
    header = [(n, line.split()) for n, line in enumerate(lines[motion_at + 1:motion_at + 3], start=motion_at + 1)]
    if len(header) < 2:
        raise BvhError(f"{path}, line {motion_at + 1}: the file ends after MOTION; "
                       "expected 'Frames:' and 'Frame Time:'")
    (n1, frames_line), (n2, time_line) = header
    if len(frames_line) != 2 or frames_line[0] != "Frames:" or not frames_line[1].isdigit():
        raise BvhError(f"{path}, line {n1 + 1}: expected 'Frames: <count>', found '{lines[n1].strip()}'")
    try:
        if len(time_line) != 3 or time_line[:2] != ["Frame", "Time:"]:
            raise ValueError
        frame_time = float(time_line[2])
    except ValueError:
        raise BvhError(f"{path}, line {n2 + 1}: expected 'Frame Time: <seconds>', "
                       f"found '{lines[n2].strip()}'") from None
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise BvhError(f"{path}, line {n2 + 1}: the frame time must be a positive number of seconds")
    return int(frames_line[1]), frame_time, n2 + 1


def write_bvh(path: str | os.PathLike, rotvecs: np.ndarray, root_translation: np.ndarray, fps: float,
              order: str = "ZXY") -> None:
    """Write canonical motion as BVH in metres, Y up, the rest pose being the canonical T-pose.

    rotvecs: (T, 20, 3) or (T, 60) local rotation vectors (skeleton conventions).
    root_translation: (T, 3) pelvis position in metres. fps: frames per second.
    order: Euler order of the rotation channels, "ZXY" or "XYZ" (any 3-letter order works).
    The root OFFSET is zero, so tools that add the root's position channels to its OFFSET and
    tools that replace it read the same pelvis position. End Sites give the head top, the toes
    (SMPL foot joints) and the hands (SMPL hand joints).
    """
    rotvecs = as_motion(rotvecs)
    n = len(rotvecs)
    root_translation = np.asarray(root_translation, dtype=np.float64)
    if root_translation.shape != (n, 3):
        raise ValueError(f"root_translation must be ({n}, 3) to match the rotations, got {root_translation.shape}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"order must be a permutation of XYZ, got '{order}'")
    if not (np.all(np.isfinite(rotvecs)) and np.all(np.isfinite(root_translation))):
        raise ValueError("the motion holds NaN or infinite values; nothing was written")

    rot_names = " ".join(f"{a}rotation" for a in order)
    end_offsets = {**END_OFFSETS, JOINT_NAMES.index("head"): HEAD_END_OFFSET}
    out = ["HIERARCHY"]
    file_order: list[int] = []  # joints in the order their channels appear on a frame line

    def emit(j: int, depth: int) -> None:
        file_order.append(j)
        pad = "\t" * depth
        off = REST_OFFSETS[j]
        if j == 0:
            out.append(f"ROOT {JOINT_NAMES[j]}")
        else:
            out.append(f"{pad}JOINT {JOINT_NAMES[j]}")
        out.append(pad + "{")
        out.append(f"{pad}\tOFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        chans = f"6 Xposition Yposition Zposition {rot_names}" if j == 0 else f"3 {rot_names}"
        out.append(f"{pad}\tCHANNELS {chans}")
        for c in range(NUM_JOINTS):
            if PARENTS[c] == j:
                emit(c, depth + 1)
        if j in end_offsets:
            e = end_offsets[j]
            out.extend([f"{pad}\tEnd Site", pad + "\t{",
                        f"{pad}\t\tOFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}", pad + "\t}"])
        out.append(pad + "}")

    emit(0, 0)
    euler = np.rad2deg(matrix_to_euler(rotvec_to_matrix(rotvecs[:, file_order]), order))  # (T, 20, 3)
    data = np.concatenate([root_translation, euler.reshape(n, -1)], axis=1)  # (T, 63)
    out += ["MOTION", f"Frames: {n}", f"Frame Time: {1.0 / fps:.8f}"]
    out += [" ".join(f"{v:.6f}" for v in row) for row in data]
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")
