"""The dance recognizer (training/recognition): split, stream features, models, training, metrics,
the labelled-BVH and AIST++ loaders, make recognize's outputs and make eval's judge.

Everything runs on small synthetic dances (a few seconds each); nothing here reads ../shared/data
except split.json.
"""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from dance_addon.core.motion import skeleton as sk
from dance_addon.core.motion.bvh import write_bvh
from training.data.clips import load_split
from training.recognition import data as rd
from training.recognition.features import (
    MOTION_DIM,
    POSE_DIM,
    motion_features,
    pose_features,
    raw_features,
    stream_inputs,
    turn_about_y,
    window_frame,
)
from training.recognition.judge import StyleJudge, judge_from_checkpoint
from training.recognition.metrics import confusion_matrix, scores
from training.recognition.models import KINDS, LateFusion, RecognizerConfig, build_model, save_checkpoint
from training.recognition.train import TrainConfig, embed, lr_at, predict, train_model

FPS = 30.0
TINY = dict(channels=(8, 8, 8), cnn_channels=(4, 4, 4), fusion_hidden=8)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One thread, as make recognize uses (two spin against other jobs on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic_motion(kind: str, frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 20, 3) rotations and (T, 3) root of a made-up dance: "arms" swings the arms, "legs"
    bends the knees and hips; the dancer turns slowly and drifts across the floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    phase, rate = rng.uniform(0, 2 * np.pi), rng.uniform(1.2, 1.8)
    wave = np.sin(2 * np.pi * rate * t + phase)
    rv = rng.normal(0.0, 0.005, (frames, sk.NUM_JOINTS, 3))
    rv[:, 0, 1] += 0.4 * t + rng.uniform(-3, 3)                          # heading turns
    if kind == "arms":
        rv[:, sk.joint_index("left_shoulder"), 2] += 0.8 * wave
        rv[:, sk.joint_index("right_shoulder"), 2] += -0.8 * wave
    else:
        for j in ("left_knee", "right_knee"):
            rv[:, sk.joint_index(j), 0] += 0.6 + 0.5 * wave
        for j in ("left_hip", "right_hip"):
            rv[:, sk.joint_index(j), 0] += -0.3 - 0.25 * wave
    root = np.column_stack([0.3 * t + rng.uniform(-1, 1), np.full(frames, sk.STANDING_HEIGHT),
                            -0.2 * t + rng.uniform(-1, 1)])
    return rv, root


def recording(name: str, genre: str, frames: int = 150, seed: int = 0, kind: str | None = None) -> rd.Recording:
    rv, root = synthetic_motion(kind or ("arms" if genre in ("a", "salsa") else "legs"), frames, seed)
    return rd.Recording(name, rd.session_of(name), genre, None,
                        sk.forward_kinematics(rv, root).astype(np.float32), FPS)


def clip_positions(frames: int = 90, seed: int = 3) -> np.ndarray:
    rv, root = synthetic_motion("legs", frames, seed)
    return sk.forward_kinematics(rv, root)


# ------------------------------------------------------------------------------ split

def test_split_keeps_recordings_and_salsa_couples_apart():
    recs = [recording(f"cmu-salsa/{s}_{t:02d}", "salsa", 40, t) for s in (60, 61) for t in (1, 2, 3, 4)]
    recs += [recording(f"cmu-indian/94_{t:02d}", "Indian dance", 40, t) for t in (4, 6, 7, 8, 13)]
    recs += [recording("cmu-lambada/55_02", "lambada", 40, 9)]
    held, notes = rd.choose_heldout(recs, fixed=frozenset({"cmu-salsa/60_03"}))
    # split.json names 60_03 only: its partner 61_03 (same couple, same take) goes with it
    assert held == {"cmu-salsa/trial 03", "cmu-indian/94_13", "cmu-indian/94_08"}
    assert "split.json" in notes["salsa"] and "last 2 of 5" in notes["Indian dance"]
    assert "one recording only" in notes["lambada"]
    task = rd.make_task("genre", "genre", recs, held, notes, ("salsa", "Indian dance", "lambada"))
    train_sessions, heldout_sessions = {r.session for r in task.train}, {r.session for r in task.heldout}
    assert not train_sessions & heldout_sessions
    assert {r.name for r in task.heldout} == {"cmu-salsa/60_03", "cmu-salsa/61_03", "cmu-indian/94_08",
                                              "cmu-indian/94_13"}
    counts = task.counts()
    assert counts["lambada"]["heldout_recordings"] == 0 and counts["lambada"]["train_recordings"] == 1
    assert counts["salsa"] == {**counts["salsa"], "train_recordings": 6, "heldout_recordings": 2,
                               "train_sessions": 3, "heldout_sessions": 1}
    # the choice is deterministic and never holds a class out entirely
    assert rd.choose_heldout(list(reversed(recs)), frozenset({"cmu-salsa/60_03"}))[0] == held
    two = [recording(f"x/{i}", "b", 40, i) for i in range(2)]
    assert rd.choose_heldout(two)[0] == {"x/1"}


def test_the_real_split_holds_out_whole_salsa_couples():
    split = load_split()
    salsa = [n for n in split.heldout_clips if n.startswith("cmu-salsa/")]
    assert salsa
    for name in salsa:
        subject, trial = name.split("/")[1].split("_")
        partner = f"cmu-salsa/{61 if subject == '60' else 60}_{trial}"
        assert partner in split.heldout_clips and rd.session_of(name) == rd.session_of(partner)
    assert rd.session_of("cmu-modern/005_19") == "cmu-modern/005_19"


def test_windows_pad_short_recordings_and_sampler_balances_classes():
    pos = np.arange(10 * 20 * 3, dtype=np.float32).reshape(10, 20, 3)
    win = rd.cut_window(pos, 6, 8)
    np.testing.assert_array_equal(win[:4], pos[6:10])
    np.testing.assert_array_equal(win[4:], np.repeat(pos[9:], 4, axis=0))          # the last frame held
    assert list(rd.window_starts(100, 30, 15)) == [0, 15, 30, 45, 60] and list(rd.window_starts(10, 30, 15)) == [0]
    windows, owner = rd.fixed_windows([pos, pos[:5]], 8, 2)
    assert windows.shape == (3, 8, 20, 3) and list(owner) == [0, 0, 1]
    recs = [recording("a/long", "a", 900, 0), recording("b/short", "b", 60, 1)]
    sampler = rd.WindowSampler(recs, [0, 1], 2, 30)
    w, labels = sampler.sample(np.random.default_rng(0), 400, stretch=0.1, mirror=True)
    assert w.shape == (400, 30, 20, 3) and w.dtype == np.float32
    assert 0.4 < labels.mean() < 0.6                                   # a short class is seen as often


# --------------------------------------------------------------------------- features

def test_features_are_root_relative_and_heading_invariant():
    pos = clip_positions()
    angle, shift = 1.1, np.array([3.0, 0.0, -2.0])
    turned = turn_about_y(pos, -angle) + shift                         # the whole dance turned and moved
    for f in (pose_features, raw_features, lambda p: motion_features(p, FPS)):
        np.testing.assert_allclose(f(turned), f(pos), atol=1e-9)
    # root-relative: any horizontal path of the pelvis, frame by frame, leaves the pose stream alone
    wander = np.random.default_rng(0).normal(0, 0.5, (len(pos), 1, 3)) * np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(pose_features(pos + wander), pose_features(pos), atol=1e-9)
    # what the pose stream holds: joints minus the pelvis facing +Z, then the pelvis height
    pf = pose_features(pos)
    assert pf.shape == (len(pos), POSE_DIM)
    hips = pos[:, 1] - pos[:, 2]                                       # left hip - right hip
    h = np.arctan2(-hips[:, 2], hips[:, 0])
    rel = turn_about_y(pos[:, 1:] - pos[:, :1], h[:, None])
    np.testing.assert_allclose(pf[:, :57], rel.reshape(len(pos), -1), atol=1e-12)
    np.testing.assert_allclose(pf[:, 57], pos[:, 0, 1])
    left = rel[:, 0] - rel[:, 1]                                       # left hip - right hip: along +X
    np.testing.assert_allclose(left[:, 2], 0.0, atol=1e-12)
    assert (left[:, 0] > 0).all()


def test_motion_stream_is_finite_differences():
    pos = clip_positions(60)
    q = window_frame(pos)
    vel = np.gradient(q, 1.0 / FPS, axis=0)         # central inside, one-sided at the ends
    acc = np.gradient(vel, 1.0 / FPS, axis=0)
    mf = motion_features(pos, FPS)
    assert mf.shape == (60, MOTION_DIM)
    np.testing.assert_allclose(mf[:, :60], vel.reshape(60, -1), atol=1e-9)
    np.testing.assert_allclose(mf[:, 60:], acc.reshape(60, -1), atol=1e-7)
    np.testing.assert_allclose(mf[10, 3:6], (q[11, 1] - q[9, 1]) * FPS / 2, atol=1e-9)
    # batched windows give the same as one at a time
    batch = np.stack([pos[:30], pos[30:]])
    np.testing.assert_allclose(motion_features(batch, FPS)[1], motion_features(pos[30:], FPS), atol=1e-9)


# ----------------------------------------------------------------------------- models

@pytest.mark.parametrize("kind", KINDS)
def test_model_output_and_feature_shapes(kind):
    torch.manual_seed(0)
    model = build_model(RecognizerConfig(kind, 5, **TINY)).eval()
    for frames in (120, 30):
        windows = np.stack([clip_positions(frames, s) for s in range(3)]).astype(np.float32)
        x = {k: torch.from_numpy(v) for k, v in stream_inputs(windows, FPS, model.inputs).items()}
        assert model(x).shape == (3, 5)
        feats = model.embed(x)
        assert feats.ndim == 2 and feats.shape[0] == 3
    assert model.inputs == {"pose": ("pose",), "motion": ("motion",), "two-stream": ("pose", "motion"),
                            "3d-cnn": ("raw",)}[kind]
    if kind == "two-stream":
        assert feats.shape[1] == TINY["fusion_hidden"]


def test_late_fusion_averages_the_streams_probabilities():
    torch.manual_seed(0)
    pose, motion = (build_model(RecognizerConfig(k, 3, **TINY)).eval() for k in ("pose", "motion"))
    windows = np.stack([clip_positions(60, s) for s in range(4)]).astype(np.float32)
    fused = predict(LateFusion(pose, motion), windows, FPS)
    np.testing.assert_allclose(fused, (predict(pose, windows, FPS) + predict(motion, windows, FPS)) / 2, atol=1e-6)
    np.testing.assert_allclose(fused.sum(axis=1), 1.0, atol=1e-6)


def test_tiny_training_separates_synthetic_genres():
    train = [recording(f"a/{i}", "a", 120, i) for i in range(3)]
    train += [recording(f"b/{i}", "b", 120, 10 + i) for i in range(3)]
    test = [recording("a/t", "a", 120, 50), recording("b/t", "b", 120, 60)]
    sampler = rd.WindowSampler(train, [0, 0, 0, 1, 1, 1], 2, 30)
    torch.manual_seed(0)
    model = build_model(RecognizerConfig("two-stream", 2, channels=(16, 16, 16), fusion_hidden=16))
    info = train_model(model, sampler, FPS, TrainConfig(steps=60, batch_size=32, warmup_steps=5, norm_windows=128))
    assert info["steps"] == 60 and np.mean(info["losses"][-5:]) < np.mean(info["losses"][:5])
    windows, owner = rd.fixed_windows([r.positions for r in test], 30, 15)
    accuracy = (predict(model, windows, FPS).argmax(axis=1) == owner).mean()
    assert accuracy >= 0.9
    assert lr_at(0, TrainConfig()) < lr_at(19, TrainConfig()) == pytest.approx(TrainConfig().lr)


# ---------------------------------------------------------------------------- metrics

def test_metrics_by_hand():
    #           true: 0 0 0 1 1 2     predicted: 0 0 1 1 2 2
    s = scores([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], 4)
    assert s["accuracy"] == pytest.approx(4 / 6)
    # precision: 2/2, 1/2, 1/2; recall: 2/3, 1/2, 1/1 (class 3 never true: not averaged)
    assert s["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert s["recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 / 1.5]
    assert s["f1"] == pytest.approx(np.mean(f1))
    np.testing.assert_array_equal(confusion_matrix([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], 3),
                                  [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    # a class predicted but never true costs the others' recall, not the average's length
    s = scores([0, 0, 1], [0, 2, 1], 3)
    assert s["recall"] == pytest.approx(0.75) and s["precision"] == pytest.approx(1.0)


def test_metrics_match_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 300)
    y[y == 4] = 3                                                     # class 4 never true ...
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 5, 300))  # ... but sometimes predicted
    s = scores(y, p, 5)
    labels = np.unique(y)
    prec, rec, f1, _ = sklearn_metrics.precision_recall_fscore_support(y, p, labels=labels, average="macro",
                                                                       zero_division=0)
    assert s["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, p))
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((prec, rec, f1))


# ---------------------------------------------------------------------------- loaders

@pytest.fixture(scope="module")
def bvh_folder(tmp_path_factory):
    """Canonical-skeleton BVH files (the add-on's own export) in one sub-folder per label."""
    root = tmp_path_factory.mktemp("labelled")
    motions = {}
    for label, kind in (("arms", "arms"), ("legs", "legs")):
        (root / label).mkdir()
        for i in range(4):
            rv, tr = synthetic_motion(kind, 150, 100 * i + len(label))
            write_bvh(root / label / f"take{i}.bvh", rv, tr, FPS)
            motions[f"{label}/take{i}"] = sk.forward_kinematics(rv, tr)
    return root, motions


def test_labelled_bvh_folder_is_read_by_its_bone_names(bvh_folder, tmp_path):
    root, motions = bvh_folder
    recs = rd.folder_recordings(root, cache_dir=tmp_path / "cache")
    assert sorted(r.name for r in recs) == sorted(motions)
    assert {r.genre for r in recs} == {"arms", "legs"} and all(r.session == r.name for r in recs)
    for r in recs:
        # the pose about the pelvis survives the import (the floor height may move; the resampling
        # from the file's rounded frame time may drop the last frame)
        n = len(r.positions)
        assert n >= len(motions[r.name]) - 1
        np.testing.assert_allclose(pose_features(r.positions)[:, :57], pose_features(motions[r.name][:n])[:, :57],
                                   atol=0.01)
    again = rd.folder_recordings(root, cache_dir=tmp_path / "cache")              # from the cache
    np.testing.assert_array_equal(again[0].positions, recs[0].positions)
    task = rd.labelled_task(recs)
    assert task.classes == ("arms", "legs") and {r.name for r in task.heldout} == {"arms/take3", "legs/take3"}


def test_aist_files_are_labelled_by_their_genre_code(tmp_path):
    folder = tmp_path / "motions"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = ["gBR_sBM_cAll_d04_mBR0_ch01", "gBR_sBM_cAll_d05_mBR1_ch02", "gPO_sBM_cAll_d10_mPO0_ch01",
             "gPO_sFM_cAll_d11_mPO1_ch03"]
    for n in names:
        data = {"smpl_poses": rng.normal(0, 0.1, (120, 72)), "smpl_trans": rng.normal(0, 1, (120, 3)),
                "smpl_scaling": np.array([1.0])}
        (folder / f"{n}.pkl").write_bytes(pickle.dumps(data))
    (tmp_path / "ignore_list.txt").write_text("gPO_sFM_cAll_d11_mPO1_ch03\n")
    recs = rd.aist_recordings(folder)
    assert [(r.name, r.genre) for r in recs] == [("aist/gBR_sBM_cAll_d04_mBR0_ch01", "break"),
                                                 ("aist/gBR_sBM_cAll_d05_mBR1_ch02", "break"),
                                                 ("aist/gPO_sBM_cAll_d10_mPO0_ch01", "pop")]
    assert recs[0].positions.shape == (60, 20, 3)                       # 60 fps resampled to 30
    (folder / "xYZ_bad.pkl").write_bytes(pickle.dumps({}))
    with pytest.raises(ValueError, match="genre code"):
        rd.aist_recordings(folder)


# ------------------------------------------------------------------- outputs and judge

def test_make_recognize_writes_the_results_schema(bvh_folder, tmp_path):
    from training.recognition.run import MODEL_NAMES, main

    root, _ = bvh_folder
    out = tmp_path / "results"
    main(["--folder", str(root), "--seeds", "0", "--steps", "2", "--out", str(out),
          "--figure", str(tmp_path / "confusion.png")])
    saved = json.loads((out / "recognition.json").read_text())
    assert set(saved) == {f"genre: {name}" for name in MODEL_NAMES.values()}
    assert any("two-stream" in k for k in saved)
    for row in saved.values():
        assert set(row) == {"accuracy", "precision", "recall", "f1"}
        assert all(0.0 <= v <= 1.0 for v in row.values())
    details = json.loads((out / "recognition_details.json").read_text())
    assert details["tasks"]["genre"]["counts"]["arms"]["heldout_recordings"] == 1
    assert "| genre, 4 s | two-stream, learned fusion |" in (out / "recognition.md").read_text()
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_judge_reads_dances_and_measures_fid_in_its_space(tmp_path):
    torch.manual_seed(0)
    model = build_model(RecognizerConfig("two-stream", 2, **TINY))
    train = [recording(f"cmu-salsa/60_0{i}", "salsa", 120, i) for i in range(3)]
    train += [recording(f"cmu-modern/005_0{i}", "modern", 120, 10 + i) for i in range(3)]
    sampler = rd.WindowSampler(train, [0, 0, 0, 1, 1, 1], 2, 30)
    train_model(model, sampler, FPS, TrainConfig(steps=40, batch_size=32, warmup_steps=5, norm_windows=128))
    path = save_checkpoint(tmp_path / "recognizer.pt", model, ("salsa", "modern"),
                           {"fps": FPS, "window_frames": 30, "genre_of_source": rd.DATASET_GENRES})
    judge = judge_from_checkpoint(path)
    assert judge.genre_of("cmu-salsa/60_13") == "salsa" and judge.genre_of("cmu-modern") == "modern"
    assert judge.genre_of("style 3") is None and judge.genre_of(None) is None

    class D:                                     # what make eval hands over: SMPL-24 positions and fps
        def __init__(self, rec):
            from training.evaluation.joints import NUM_SMPL_JOINTS
            self.positions = np.zeros((rec.frames, NUM_SMPL_JOINTS, 3))
            self.positions[:, list(sk.SMPL_INDEX)] = rec.positions
            self.fps = FPS

    dances = [D(recording(f"x/{i}", g, 120, 70 + i)) for i, g in enumerate(["salsa", "modern", "salsa"])]
    judge = judge.with_reference([D(r) for r in train])
    row = judge.row(dances, ["cmu-salsa/60_13", "cmu-modern", "style 0"])
    assert row["style_n"] == 2 and row["style_acc"] == 1.0 and 0.5 < row["style_prob"] <= 1.0
    assert np.isfinite(row["fid_r"]) and row["fid_r"] >= 0
    # the features are the mean of the window features; a dance at 60 fps reads as at 30
    rec = recording("x/9", "salsa", 120, 99)
    windows, _ = rd.fixed_windows([rec.positions], 30, 15)
    np.testing.assert_allclose(judge.read(rec.positions, FPS).features, embed(judge.model, windows, FPS).mean(0),
                               rtol=1e-5, atol=1e-5)
    from dance_addon.core.motion.rotations import resample_linear
    fast = judge.read(resample_linear(rec.positions.astype(np.float64), FPS, 60.0), 60.0)
    np.testing.assert_allclose(fast.probs, judge.read(rec.positions, FPS).probs, atol=0.05)
    assert isinstance(judge, StyleJudge)
