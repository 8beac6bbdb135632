"""Training data: canonical mocap clips, music tracks, the held-out split and music-motion pairs."""
