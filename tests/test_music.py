"""The music front end against librosa (on real tracks and click tracks) and on bad input.

Agreement measure: Pearson correlation over time, per feature column, between our
column and librosa's own function on the same 22050 Hz samples with the same frame
rate (fps 30: hop 735). Beats: F-measure at +-70 ms against librosa.beat.beat_track
with its defaults (hop 512). Tempo: within 4 % of librosa's, or an exact octave.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile

from dance_addon.core.music.audio import resample
from dance_addon.core.music.features import (
    ANALYSIS_SR,
    FEATURE_COLUMNS,
    FEATURES_VERSION,
    AudioError,
    MusicFeatures,
    extract_features,
    load_audio,
)
from music_helpers import click_track, corr, f_measure, tempo_agrees

librosa = pytest.importorskip("librosa")

SR = ANALYSIS_SR
HOP30 = SR // 30  # 735: librosa's hop for 30 fps
# Six tracks spanning the package's moods, acoustic and electronic.
TRACK_NAMES = ("calm_acoustic_1", "energetic_electronic_2", "happy_acoustic_s411", "happy_electronic_1",
               "nostalgic_electronic_s411", "tender_acoustic_2")


@pytest.fixture(scope="module")
def reference(music_tracks):
    """For each chosen track: (name, 22050 Hz samples, our features at 30 fps)."""
    by_name = {p.stem: p for p in music_tracks}
    out = []
    for name in TRACK_NAMES:
        y = load_audio(by_name[name], SR, backend="soundfile")
        out.append((name, y, extract_features(y, SR, fps=30)))
    return out


def test_columns_are_named_once_and_fill_the_matrix(reference):
    _, _, feats = reference[0]
    assert isinstance(feats, MusicFeatures)
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS) == feats.matrix.shape[1]
    assert feats.matrix.dtype == np.float32 and feats.version == FEATURES_VERSION
    for name in ("onset_env", "mfcc_00", "mfcc_19", "chroma_C", "chroma_B", "onset_peak", "beat", "rms",
                 "beat_phase_sin", "beat_phase_cos", "downbeat", "bar_phase_sin", "spectral_flux"):
        assert name in FEATURE_COLUMNS
    assert np.isfinite(feats.matrix).all()


def test_onset_mfcc_chroma_rms_correlate_with_librosa(reference):
    worst: dict[str, float] = {}
    for name, y, feats in reference:
        theirs = {
            "onset_env": librosa.onset.onset_strength(y=y, sr=SR, hop_length=HOP30)[None],
            "mfcc": librosa.feature.mfcc(y=y, sr=SR, hop_length=HOP30, n_mfcc=20),
            "chroma": librosa.feature.chroma_stft(y=y, sr=SR, hop_length=HOP30, tuning=0.0),
            "rms": librosa.feature.rms(y=y, hop_length=HOP30),
        }
        assert feats.matrix.shape[0] == theirs["mfcc"].shape[1], name
        for group, ref in theirs.items():
            cols = [c for c in FEATURE_COLUMNS if c == group or c.startswith(group + "_")]
            assert len(cols) == ref.shape[0]
            for col, row in zip(cols, ref):
                if np.ptp(row) == 0:  # a constant column (e.g. no energy in one pitch class) has no correlation
                    np.testing.assert_allclose(feats.column(col), row, atol=1e-6)
                    continue
                worst[group] = min(worst.get(group, 1.0), corr(feats.column(col), row))
    print("worst per-column correlation with librosa:", {k: round(v, 6) for k, v in worst.items()})
    assert worst["onset_env"] >= 0.99
    assert worst["mfcc"] >= 0.99
    assert worst["chroma"] >= 0.99
    assert worst["rms"] >= 0.99


def test_onset_peaks_are_librosas_onsets(reference):
    for name, y, feats in reference:
        env = librosa.onset.onset_strength(y=y, sr=SR, hop_length=HOP30)
        theirs = librosa.onset.onset_detect(onset_envelope=env, sr=SR, hop_length=HOP30) / 30.0
        ours = np.flatnonzero(feats.column("onset_peak")) / 30.0
        assert f_measure(theirs, ours, tolerance=0.034) >= 0.95, name


def test_beats_and_tempo_agree_with_librosa(reference):
    scores = []
    for name, y, feats in reference:
        tempo, beat_times = librosa.beat.beat_track(y=y, sr=SR, units="time")
        tempo = float(np.atleast_1d(tempo)[0])
        assert tempo_agrees(feats.tempo, tempo), (name, feats.tempo, tempo)
        scores.append(f_measure(beat_times, feats.beat_times))
        # the beat column marks exactly the beat times rounded to frames
        np.testing.assert_array_equal(np.flatnonzero(feats.column("beat")), feats.beats)
        np.testing.assert_array_equal(feats.beats, np.unique(np.rint(feats.beat_times * 30).astype(int)))
    print("beat F-measure vs librosa per track:", np.round(scores, 3), "mean", round(float(np.mean(scores)), 3))
    assert np.mean(scores) >= 0.9
    assert min(scores) >= 0.8


@pytest.mark.parametrize("bpm", [60, 90, 120, 150, 200])
def test_click_track_beats_are_found(bpm):
    y, clicks = click_track(bpm)
    feats = extract_features(y, SR, fps=30)
    assert abs(feats.tempo - bpm) <= 0.04 * bpm, feats.tempo
    assert f_measure(clicks, feats.beat_times) >= 0.95


def test_downbeat_follows_the_accented_beat():
    y, clicks = click_track(100, accent_every=4, start=0.5 + 60 / 100)  # the first click is an accented one
    feats = extract_features(y, SR, fps=30)
    accented = clicks[::4]
    down_times = feats.downbeats / 30.0
    assert f_measure(accented, down_times) >= 0.9
    bar = np.arctan2(feats.column("bar_phase_sin"), feats.column("bar_phase_cos"))
    assert np.all(np.abs(bar[feats.downbeats]) < 0.3)  # the bar phase restarts on each downbeat


def test_beat_phase_turns_once_per_beat(reference):
    _, _, feats = reference[2]
    angle = np.unwrap(np.arctan2(feats.column("beat_phase_sin"), feats.column("beat_phase_cos")))
    turns = (angle[feats.beats[-1]] - angle[feats.beats[0]]) / (2 * np.pi)
    assert turns == pytest.approx(feats.beats.size - 1, abs=0.3)
    assert np.all(np.abs(angle[feats.beats] / (2 * np.pi) - np.rint(angle[feats.beats] / (2 * np.pi))) < 0.25)


@pytest.mark.parametrize("fps", [24, 25, 30, 60, 29.97])
def test_frame_t_is_at_time_t_over_fps(fps):
    # One impulse at 1.2345 s: the RMS column (2048-sample frames) is non-zero exactly on
    # the frames whose centre t / fps lies within 1024 samples of it.
    y = np.zeros(3 * SR, np.float32)
    at = int(1.2345 * SR)
    y[at] = 1.0
    feats = extract_features(y, SR, fps=fps)
    assert feats.matrix.shape[0] == 1 + math.floor(y.size * fps / SR)
    t = np.arange(feats.matrix.shape[0]) / fps
    expected = np.abs(np.rint(t * SR) - at) < 1024
    np.testing.assert_array_equal(feats.column("rms") > 0, expected)
    assert feats.fps == fps


def test_frame_rates_give_the_same_beat_times(reference):
    _, y, feats30 = reference[1]
    feats24 = extract_features(y, SR, fps=24)
    np.testing.assert_allclose(feats24.beat_times, feats30.beat_times)
    np.testing.assert_array_equal(feats24.beats, np.unique(np.rint(feats30.beat_times * 24).astype(int)))
    assert feats30.downbeats.size > 0
    np.testing.assert_allclose(feats24.downbeats / 24, feats30.downbeats / 30, atol=0.5 / 24 + 0.5 / 30)


def test_input_rate_and_channels_do_not_change_the_features(reference):
    _, y, feats = reference[3]
    y = y[: 10 * SR]
    base = extract_features(y, SR)
    six = np.repeat(resample(y, SR, 96000)[:, None], 6, axis=1)  # 96 kHz, 6 identical channels
    hi = extract_features(six, 96000)
    assert hi.matrix.shape == base.matrix.shape
    for col in ("onset_env", "mfcc_01", "mfcc_05", "chroma_A", "rms"):
        assert corr(hi.column(col), base.column(col)) > 0.99, col


@pytest.mark.parametrize("rate", [8000, 44056])  # 44056 Hz: an odd rate, resampled by a near ratio
def test_low_and_odd_sample_rates_work(rate):
    y, clicks = click_track(120, sr=rate, seconds=15.0)
    feats = extract_features(y, rate, fps=25)
    assert np.isfinite(feats.matrix).all()
    assert f_measure(clicks, feats.beat_times) >= 0.9


def test_resampler_is_accurate_for_common_rates():
    for sr_in in (8000, 16000, 44100, 48000, 96000):
        t = np.arange(2 * sr_in) / sr_in
        y = resample(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32), sr_in, SR)
        assert y.size == math.ceil(t.size * SR / sr_in)
        ref = np.sin(2 * np.pi * 1000.0 * np.arange(y.size) / SR)
        assert np.abs(y - ref)[2000:-2000].max() < 1e-3, sr_in


def test_silence_gives_zero_energy_and_no_beats():
    feats = extract_features(np.zeros(10 * SR, np.float32), SR)
    assert np.isfinite(feats.matrix).all()
    assert feats.beats.size == 0 and feats.tempo == 0.0
    for col in FEATURE_COLUMNS:
        if not col.startswith("mfcc"):
            assert not feats.column(col).any(), col
    assert np.ptp(feats.column("mfcc_00")) < 1e-2  # the -100 dB floor in every band


@pytest.mark.parametrize("n", [1, 100, SR // 2])
def test_very_short_audio_works(reference, n):
    _, y, _ = reference[0]
    feats = extract_features(y[SR: SR + n], SR, fps=30)
    assert feats.matrix.shape[0] == 1 + (n * 30) // SR
    assert np.isfinite(feats.matrix).all()


def test_twenty_minutes_work():
    y, clicks = click_track(128, sr=11025, seconds=20 * 60.0)
    feats = extract_features(y, 11025, fps=30)
    assert feats.matrix.shape[0] == 1 + 20 * 60 * 30
    assert np.isfinite(feats.matrix).all()
    assert f_measure(clicks, feats.beat_times) >= 0.95


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_raise(bad):
    y = np.zeros(SR, np.float32)
    y[1234] = bad
    with pytest.raises(AudioError, match=r"my-song\.wav.*NaN or infinite.*sample 1234"):
        extract_features(y, SR, source="my-song.wav")


def test_bad_arguments_raise():
    with pytest.raises(AudioError, match="no audio samples"):
        extract_features(np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match="frame rate"):
        extract_features(np.zeros(SR, np.float32), SR, fps=0)
    with pytest.raises(AudioError, match="sample rate"):
        extract_features(np.zeros(SR, np.float32), float("nan"))
    with pytest.raises(AudioError, match="shape"):
        extract_features(np.zeros((2, 3, 4), np.float32), SR)


def test_integer_pcm_is_scaled_and_wrong_layouts_raise(reference):
    _, y, _ = reference[0]
    y = y[: 5 * SR]
    pcm = np.rint(np.clip(y, -1, 1) * 32767).astype(np.int16)
    np.testing.assert_allclose(extract_features(pcm, SR).column("mfcc_01"),
                               extract_features(pcm / np.float32(32768), SR).column("mfcc_01"), rtol=1e-4)
    with pytest.raises(AudioError, match=r"song: .*\(n, channels\)"):
        extract_features(np.stack([y, y]), SR, source="song")  # librosa's (channels, n) layout
    with pytest.raises(AudioError, match="far beyond full scale"):
        extract_features(pcm.astype(np.float32), SR)


def test_load_audio_reads_opus_and_mixes_down(music_tracks):
    path = music_tracks[0]
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    y = load_audio(path, SR, backend="soundfile")
    np.testing.assert_allclose(y, resample(data.mean(axis=1), rate, SR), atol=1e-6)


def test_missing_empty_and_corrupt_files_raise(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=r"nope\.wav: no such file"):
        load_audio(missing, SR, backend="soundfile")
    empty = tmp_path / "empty.opus"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.opus: the file is empty"):
        load_audio(empty, SR, backend="soundfile")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(4000))
    with pytest.raises(AudioError, match=r"corrupt\.wav: cannot decode"):
        load_audio(corrupt, SR, backend="soundfile")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    with pytest.raises(AudioError, match="a_folder: no such file"):
        load_audio(folder, SR, backend="soundfile")


def test_wav_with_nan_samples_raises_naming_the_file(tmp_path):
    path = tmp_path / "nan.wav"
    y = np.zeros(SR, np.float32)
    y[10] = np.nan
    soundfile.write(str(path), y, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: 1 samples are NaN"):
        load_audio(path, SR, backend="soundfile")
