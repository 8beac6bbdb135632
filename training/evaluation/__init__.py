"""Quality metrics for generated dances, on forward-kinematics joint positions.

Joint layout and units: joints.py (SMPL-24 order rebuilt from our skeleton, metres, Y up).
Beat alignment (Bailando's and FACT's recipes): beats.py. FID_k/FID_g features: features.py;
Fréchet distance and diversity: fid.py. EDGE's PFC and foot skating: feet.py. Jerk and
freezing windows: dynamics.py. Rotation ranges: rotation_range.py. One table row per set of
dances: evaluate.py. `make eval` (all baselines on the held-out split, table and plots): run.py, plots.py.
"""
