"""The add-on's logic: numpy, onnxruntime and the standard library only (never bpy, scipy or librosa)."""
