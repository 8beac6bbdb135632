"""Forward kinematics of generator frames in PyTorch, for the losses on joints and feet.

A generator frame (`dance_addon.core.motion.motion_code`, FRAME_DIM numbers, not normalised) is
19 local rotation vectors, the pelvis as (swing x, heading change, swing z), and the pelvis's
body-frame velocity (x, z in m/s) and height. `world_positions` turns a window of frames into
joint positions in metres: the heading and the horizontal travel are integrated from the
window's first frame (heading 0, over the origin), so two windows that dance the same steps
from the same start give the same positions. The maths is `skeleton.kinematics` and
`motion_code.decode_root`, written for batched tensors with gradients; a test checks them
against those numpy functions.
"""
from __future__ import annotations

import torch

from dance_addon.core.motion.skeleton import NUM_JOINTS, PARENTS, REST_OFFSETS

ROOT_TURN = 1                         # index of the heading change in a frame
TRAVEL = slice(60, 62)                # body-frame velocity x, z (m/s)
HEIGHT = 62                           # pelvis height (m)
FEET = (7, 8)                         # left and right ankle


def rotvec_to_matrix(rv: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 3, 3) matrices (Rodrigues, exact near zero)."""
    theta2 = (rv * rv).sum(-1, keepdim=True)                             # (..., 1)
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)    # sin t / t
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-12))  # (1 - cos t) / t^2
    x, y, z = rv.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*rv.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rv.dtype, device=rv.device).expand_as(k)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def body_positions(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, >= 60) frames -> (B, T, 20, 3) joint positions relative to the pelvis, in the
    dancer's heading frame (the pelvis's swing applied, its heading not)."""
    rv = frames[..., :60].reshape(*frames.shape[:-1], NUM_JOINTS, 3)
    swing = torch.stack([rv[..., 0, 0], torch.zeros_like(rv[..., 0, 0]), rv[..., 0, 2]], dim=-1)
    local = rotvec_to_matrix(torch.cat([swing[..., None, :], rv[..., 1:, :]], dim=-2))  # (B, T, 20, 3, 3)
    offsets = torch.as_tensor(REST_OFFSETS, dtype=frames.dtype, device=frames.device)
    world = [local[..., 0, :, :]]
    pos = [torch.zeros_like(frames[..., :3])]
    for i in range(1, NUM_JOINTS):
        p = PARENTS[i]
        world.append(world[p] @ local[..., i, :, :])
        pos.append(pos[p] + world[p] @ offsets[i])
    return torch.stack(pos, dim=-2)


def world_positions(frames: torch.Tensor, fps: float) -> torch.Tensor:
    """(B, T, FRAME_DIM) frames -> (B, T, 20, 3) joint positions in metres, the heading and the
    travel integrated from frame 0 (heading 0, pelvis over the origin at its coded height)."""
    turn = frames[..., ROOT_TURN].clone()
    turn[:, 0] = 0
    heading = torch.cumsum(turn, dim=1)                                  # (B, T)
    c, s = torch.cos(heading), torch.sin(heading)
    vx, vz = frames[..., TRAVEL].unbind(-1)
    step = torch.stack([c * vx + s * vz, -s * vx + c * vz], dim=-1) / fps  # (B, T, 2) world x, z
    step = torch.cat([torch.zeros_like(step[:, :1]), step[:, 1:]], dim=1)
    xz = torch.cumsum(step, dim=1)
    body = body_positions(frames)                                        # (B, T, 20, 3)
    bx, by, bz = body.unbind(-1)
    wx = c[..., None] * bx + s[..., None] * bz + xz[..., None, 0]
    wz = -s[..., None] * bx + c[..., None] * bz + xz[..., None, 1]
    return torch.stack([wx, by + frames[..., None, HEIGHT], wz], dim=-1)
