"""Run a tests/*_probe.py script in another process and read the JSON line it prints ("PROBE {...}")."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


def run_probe(python: Path | str, script: Path, *args: str, user: Path) -> dict:
    """The facts the probe reports; fails with its output when it crashes or reports nothing.

    user: Blender's user resources folder for that process (BLENDER_USER_RESOURCES)."""
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
    done = subprocess.run([str(python), str(script), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert done.returncode == 0 and lines, \
        f"{script.name} {' '.join(map(str, args[:1]))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("PROBE "):])
