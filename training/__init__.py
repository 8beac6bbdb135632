"""Training-side code: data preparation, the model, training (PyTorch, scipy, librosa allowed)."""
