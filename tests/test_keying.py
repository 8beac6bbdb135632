"""Bulk keying writes curves whose evaluated pose is the one asked for, in every rotation mode."""
import numpy as np
from scipy.spatial.transform import Rotation


def _armature(bpy, modes):
    arm = bpy.data.armatures.new("Rig")
    obj = bpy.data.objects.new("Rig", arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for i, _ in enumerate(modes):
        eb = arm.edit_bones.new(f"Bone \"{i}\"")  # a quote in the name exercises path escaping
        eb.head = (0, 0, i)
        eb.tail = (0, 0.2, i + 0.8)
        eb.roll = 0.3 * i
    bpy.ops.object.mode_set(mode="OBJECT")
    for i, mode in enumerate(modes):
        obj.pose.bones[f"Bone \"{i}\""].rotation_mode = mode
    return obj


def test_bulk_keys_evaluate_to_the_given_rotations(bpy_module):
    bpy = bpy_module
    from dance_addon.blender import keying

    modes = ["QUATERNION", "XYZ", "ZXY", "YZX", "AXIS_ANGLE"]
    obj = _armature(bpy, modes)
    n = 300
    frames = np.arange(1, n + 1, dtype=np.float64)
    rng = np.random.default_rng(0)
    # smooth motions that wander far from rest (Euler unwrapping and quaternion continuity matter)
    rots = [Rotation.from_rotvec(np.cumsum(rng.normal(scale=0.08, size=(n, 3)), axis=0)) for _ in modes]
    target = keying.new_action("Dance", obj.name)
    for bone, rot in zip(obj.pose.bones, rots):
        keying.write_bone_rotations(target, bone, frames, rot.as_quat(scalar_first=True))
    keying.write_bone_locations(target, obj.pose.bones[0], frames, np.stack([np.sin(frames / 9)] * 3, 1))
    keying.assign(obj, target)
    assert obj.animation_data.action == target.action
    scene = bpy.context.scene
    for f in (1, 57, 150, 299, 300):
        scene.frame_set(f)
        for bone, rot in zip(obj.pose.bones, rots):
            got = np.array(bone.matrix_basis)[:3, :3]
            assert np.allclose(got, rot[f - 1].as_matrix(), atol=1e-4), (bone.rotation_mode, f)
        assert np.allclose(obj.pose.bones[0].location, [np.sin(f / 9)] * 3, atol=1e-5)
    # keys sit exactly on whole frames and every curve has one key per frame
    curves = target.channelbag.fcurves if target.channelbag is not None else target.action.fcurves
    assert len(curves) == 4 + 3 * 3 + 4 + 3
    for fc in curves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        assert np.array_equal(co[::2], frames.astype(np.float32))
