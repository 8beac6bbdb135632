"""Music to Dance: a Blender extension that bakes a dance following a song onto an armature.

Layout: `core/` is the logic on numpy (and onnxruntime) alone, shared with training and runnable
anywhere; `blender/` is the thin layer that touches bpy. Importing this package does not import
bpy, so `python -m dance_addon` and training can use `dance_addon.core` outside Blender.
"""


def register():
    from .blender import register as _register

    _register()


def unregister():
    from .blender import unregister as _unregister

    _unregister()
