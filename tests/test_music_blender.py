"""Inside real bpy: Blender's `aud` decoding path gives the same features as soundfile."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

from dance_addon.core.music.features import ANALYSIS_SR, AudioError, extract_features, load_audio
from music_helpers import corr, f_measure


@pytest.fixture
def aud(bpy_module):
    import aud

    return aud


def test_aud_and_soundfile_paths_agree_on_a_track(aud, music_tracks):
    path = next(p for p in music_tracks if p.stem == "energetic_electronic_2")
    ours_aud = load_audio(path, ANALYSIS_SR, backend="aud")
    ours_sf = load_audio(path, ANALYSIS_SR, backend="soundfile")
    assert abs(ours_aud.size - ours_sf.size) <= 1
    n = min(ours_aud.size, ours_sf.size)
    assert np.abs(ours_aud[:n] - ours_sf[:n]).max() < 0.01  # two Opus decoders, the same resampler
    fa, fs = extract_features(ours_aud, ANALYSIS_SR), extract_features(ours_sf, ANALYSIS_SR)
    assert fa.matrix.shape == fs.matrix.shape
    for col in ("onset_env", *(f"mfcc_{i:02d}" for i in range(20)), "chroma_C", "chroma_G", "rms"):
        assert corr(fa.column(col), fs.column(col)) > 0.99, col
    assert fa.tempo == pytest.approx(fs.tempo, rel=1e-6)
    assert f_measure(fs.beat_times, fa.beat_times) >= 0.95


def test_auto_backend_uses_aud_inside_blender_and_reads_wav_exactly(aud, tmp_path):
    rng = np.random.default_rng(1)
    y = (0.2 * rng.standard_normal((44100, 2))).astype(np.float32)
    path = tmp_path / "noise.wav"
    soundfile.write(str(path), y, 44100, subtype="FLOAT")
    auto = load_audio(path, ANALYSIS_SR)  # bpy is imported here, so 'auto' means aud
    np.testing.assert_array_equal(auto, load_audio(path, ANALYSIS_SR, backend="aud"))
    np.testing.assert_allclose(auto, load_audio(path, ANALYSIS_SR, backend="soundfile"), atol=1e-6)


def test_aud_reports_a_corrupt_file(aud, tmp_path):
    path = tmp_path / "broken.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(AudioError, match=r"broken\.mp3: Blender cannot decode"):
        load_audio(path, ANALYSIS_SR, backend="aud")
