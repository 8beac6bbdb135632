"""The code-built dancer: canonical bones in a grounded T-pose, and a body that follows them."""
import numpy as np

from dance_addon.core.motion import skeleton as sk


def test_armature_matches_the_canonical_skeleton(bpy_module):
    from dance_addon.blender import character

    arm, body = character.build_dancer()
    assert sorted(b.name for b in arm.data.bones) == sorted(sk.JOINT_NAMES)
    bones = [arm.data.bones[name] for name in sk.JOINT_NAMES]
    for i, b in enumerate(bones):
        parent = sk.PARENTS[i]
        assert (b.parent.name if b.parent else None) == (sk.JOINT_NAMES[parent] if parent >= 0 else None)
    # heads sit at the canonical rest positions (Blender axes), soles on the ground
    rest = sk.rest_positions()
    rest[:, 1] += sk.STANDING_HEIGHT
    heads = np.array([b.head_local for b in bones])
    assert np.allclose(heads, rest @ character.CANONICAL_TO_BLENDER.T, atol=1e-5)
    verts = np.array([v.co for v in body.data.vertices])
    assert abs(verts[:, 2].min()) < 0.08 and verts[:, 2].max() > 1.6
    assert set(body.vertex_groups.keys()) == set(sk.JOINT_NAMES)


def test_body_follows_the_pose(bpy_module):
    bpy = bpy_module
    from dance_addon.blender import character

    arm, body = character.build_dancer()
    def hand_group_center():
        ev = body.evaluated_get(bpy.context.evaluated_depsgraph_get())
        gi = body.vertex_groups["left_wrist"].index
        idx = [v.index for v in body.data.vertices if any(g.group == gi for g in v.groups)]
        co = np.array([ev.data.vertices[i].co for i in idx])
        return co.mean(0)

    before = hand_group_center()
    # a quarter turn of the upper arm about its bone's local X axis swings the hand up or down
    arm.pose.bones["left_shoulder"].rotation_quaternion = (np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0)
    bpy.context.view_layer.update()
    after = hand_group_center()
    assert abs(after[2] - before[2]) > 0.3


def _mesh_arrays(mesh):
    verts = np.array([v.co for v in mesh.vertices])
    faces = [tuple(p.vertices) for p in mesh.polygons]
    return verts, faces


def test_body_is_closed_and_faces_outwards(bpy_module):
    """No zero-area faces, every edge shared by two faces winding opposite ways (closed, consistent),
    and every part encloses a positive volume (its normals point out, none inverted)."""
    from dance_addon.blender import character

    arm, body = character.build_dancer()
    mesh = body.data
    verts, faces = _mesh_arrays(mesh)
    areas = np.array([p.area for p in mesh.polygons])
    print(f"\n{len(verts)} vertices, {len(faces)} faces, smallest face {areas.min() * 1e6:.1f} mm^2")
    assert areas.min() > 1e-6
    directed = [(f[k], f[(k + 1) % len(f)]) for f in faces for k in range(len(f))]
    assert len(set(directed)) == len(directed)                 # no edge runs the same way twice
    assert all((b, a) in set(directed) for a, b in directed)   # and each has its twin: closed
    # the parts are the mesh's islands: group the faces by connected vertices
    parent = list(range(len(verts)))
    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for f in faces:
        for v in f[1:]:
            parent[find(v)] = find(f[0])
    volume: dict[int, float] = {}
    for f in faces:
        for k in range(1, len(f) - 1):                          # fan triangles of each face
            a, b, c = verts[f[0]], verts[f[k]], verts[f[k + 1]]
            volume[find(f[0])] = volume.get(find(f[0]), 0.0) + float(np.dot(a, np.cross(b, c))) / 6
    vols = np.array(list(volume.values()))
    print(f"{len(vols)} parts, volumes {vols.min() * 1e6:.0f}-{vols.max() * 1e6:.0f} cm^3")
    assert len(vols) == 21 and vols.min() > 1e-5
    # smooth shading and normals that agree with the faces' outward direction
    assert all(p.use_smooth for p in mesh.polygons)
    normals = np.array([p.normal for p in mesh.polygons])
    centers = np.array([p.center for p in mesh.polygons])
    part_center = {r: verts[[i for i in range(len(verts)) if find(i) == r]].mean(0) for r in volume}
    outward = np.array([np.dot(n, c - part_center[find(f[0])]) for n, c, f in zip(normals, centers, faces)])
    assert (outward > 0).mean() > 0.97, (outward > 0).mean()    # all but the odd face of a bent shoe


def test_every_vertex_is_weighted_and_the_face_looks_forward(bpy_module):
    from dance_addon.blender import character

    arm, body = character.build_dancer()
    mesh = body.data
    totals = np.array([sum(g.weight for g in v.groups) for v in mesh.vertices])
    counts = np.array([len(v.groups) for v in mesh.vertices])
    assert counts.min() >= 1 and np.allclose(totals, 1.0)
    names = {vg.index: vg.name for vg in body.vertex_groups}
    owner = np.array([names[v.groups[0].group] for v in mesh.vertices])
    verts = np.array([v.co for v in mesh.vertices])
    # head, hands and feet: their parts sit where their bones are
    for bone in ("head", "left_wrist", "right_wrist", "left_ankle", "right_ankle"):
        b = arm.data.bones[bone]
        mid = (np.array(b.head_local) + np.array(b.tail_local)) / 2
        assert np.linalg.norm(verts[owner == bone].mean(0) - mid) < 0.08, bone
    assert verts[owner == "left_ankle"][:, 2].min() < 0.005                      # soles on the ground
    # the face: the visor's faces look to the front (-Y) and the nose sticks out there
    visor = [p for p in mesh.polygons if p.material_index == character.MATERIALS.index("DancerFace")]
    head = verts[owner == "head"]
    assert len(visor) > 4 and all(p.normal[1] < -0.5 for p in visor)
    assert head[:, 1].min() < np.array(arm.data.bones["head"].head_local)[1] - 0.11
    assert [m.name for m in mesh.materials] == list(character.MATERIALS)
