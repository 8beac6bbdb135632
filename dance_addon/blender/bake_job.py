"""A bake that runs while Blender's window stays responsive: the interactive Bake operator's job.

The job is a plain object, apart from the operator (which Blender may free while the job runs):
1. `BakeJob(scene, request)` reads the file on the main thread (bake.read_bake: quick, may raise
   BakeError) and remembers the scene the bake started in.
2. `start()` runs `run()` in a worker thread: it decodes the song and loads the graph and the
   model (bake.load_plan), then composes and poses the dance (bake.compute_bake). The worker
   touches no bpy and writes only the job's own fields: `progress` (frames done, of total),
   `stage`, and at the end `result` or `error`, then sets the `finished` event.
3. `cancel()` sets the `cancelled` event; the worker stops at its next progress check, and the
   job never applies.
4. `apply()` (main thread, once finished) writes the dance through bake.apply_bake, which first
   checks the armature is still the one read in step 1, and puts the report on the scene the bake
   started in. A failure raises BakeError with the file unchanged.

A re-roll (reroll.py) runs the same way as a `RerollJob`: read_reroll on the main thread,
load_reroll and compute_reroll in the worker, apply_reroll on the main thread.

One bake or re-roll at a time per armature: `begin(job)` registers a job under its armature,
`end(job)` forgets it, `running_on(obj)` says which job, if any, is baking onto an armature.
"""
from __future__ import annotations

import threading

import bpy

from ..core.choreography.lstm import Cancelled
from . import bake, reroll


def _rig_key(obj: bpy.types.Object) -> int:
    """An armature's identity for the session, kept through renames."""
    return obj.session_uid


_RUNNING: dict[int, "BakeJob"] = {}


class BakeJob:
    """One bake: read now, computed by a worker thread, applied on the main thread."""
    done = "Baked by"            # the start of the line that reports it

    def __init__(self, scene: bpy.types.Scene, request: bake.BakeRequest):
        self.source = self._read(scene, request)
        self.scene_name = scene.name
        self.rig_key = _rig_key(bpy.data.objects[request.armature_name])
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self.progress = (0, self.source.frame_count)
        self.stage = "reading the song"
        self.plan: bake.BakePlan | None = None
        self.result: bake.BakeResult | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def armature_name(self) -> str:
        return self.source.request.armature_name

    @property
    def percent(self) -> int:
        done, total = self.progress
        return int(100 * done / max(total, 1))

    def start(self) -> None:
        """Run the job in a daemon worker thread."""
        self._thread = threading.Thread(target=self.run, name=f"dance bake onto {self.armature_name}", daemon=True)
        self._thread.start()

    def _read(self, scene, request):
        return bake.read_bake(scene, request)

    def _load(self, source):
        return bake.load_plan(source)

    def _compute(self, plan, progress):
        return bake.compute_bake(plan, progress)

    def _write(self, plan, result):
        return bake.apply_bake(plan, result)

    def describe(self, report) -> str:
        return describe(report)

    def run(self) -> None:
        """The worker's part (no bpy): load, compose and pose; sets `finished` however it ends."""
        try:
            plan = self._load(self.source)
            self.stage = "dancing"
            self.result = self._compute(plan, self._go_on)
            self.plan = plan
        except Cancelled:
            pass
        except bake.BakeError as e:
            self.error = str(e)
        except Exception as e:  # noqa: BLE001 - shown to the user by the main thread; nothing in the file changed
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.stage = "done"
            self.finished.set()

    def _go_on(self, done: int, total: int) -> bool:
        self.progress = (done, total)
        return not self.cancelled.is_set()

    def cancel(self) -> None:
        """Ask the worker to stop; the job will not apply."""
        self.cancelled.set()

    def wait(self) -> None:
        """Block until the worker has stopped (scripts and tests; the operator polls `finished`)."""
        if self._thread is not None:
            self._thread.join()

    def apply(self):
        """Write the finished dance into the file (main thread). BakeError, file unchanged, when the
        job was cancelled, failed, or the armature or the scene changed meanwhile."""
        if self.cancelled.is_set():
            raise bake.BakeError(f"the {self.kind} was cancelled; nothing was changed")
        if not self.finished.is_set():
            raise bake.BakeError("the dance is not made yet")
        if self.error is not None:
            raise bake.BakeError(self.error)
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is None:
            raise bake.BakeError(f"the scene '{self.scene_name}' the bake started in is gone (renamed or deleted); "
                                 "nothing was changed: bake again")
        report = self._write(self.plan, self.result)
        scene.dance.last_result = self.describe(report)
        self._after(scene)
        return report

    def _after(self, scene) -> None:
        """What the panel's settings take from a finished job (nothing, for a bake)."""

    kind = "bake"


class RerollJob(BakeJob):
    """One re-roll (reroll.py), run as a bake is."""
    done = "Re-rolled"
    kind = "re-roll"

    def _read(self, scene, request):
        return reroll.read_reroll(scene, request)

    def _load(self, source):
        return reroll.load_reroll(source)

    def _compute(self, plan, progress):
        return reroll.compute_reroll(plan, progress)

    def _write(self, plan, result):
        return reroll.apply_reroll(plan, result)

    def describe(self, report) -> str:
        return report.describe()

    def _after(self, scene) -> None:
        """The next re-roll from the panel gives another stretch: its seed moves on."""
        scene.dance.reroll_seed = self.source.request.seed + 1


def begin(job: BakeJob) -> None:
    """Register the job as the one baking onto its armature (BakeError if one already is)."""
    if job.rig_key in _RUNNING:
        raise bake.BakeError(f"a dance is already being baked or re-rolled on '{job.armature_name}'; wait for it, "
                             "or press Esc to cancel it")
    _RUNNING[job.rig_key] = job


def end(job: BakeJob) -> None:
    """Forget the job (it finished, failed or was cancelled)."""
    if _RUNNING.get(job.rig_key) is job:
        del _RUNNING[job.rig_key]


def running_on(obj: bpy.types.Object | None) -> BakeJob | None:
    """The job baking onto this armature, if any."""
    return None if obj is None else _RUNNING.get(_rig_key(obj))


def describe(report: bake.BakeReport) -> str:
    """The report as "; "-separated parts (the panel shows one a line): the method and what made the
    dance first, then the action, the clips the moves came from, and the notes."""
    text = (f"'{report.action}': frames {report.frames[0]}-{report.frames[1]}, {report.bones} bones "
            f"({report.preset} bones), {report.tempo:.0f} BPM, {report.beats} beats, "
            f"beat alignment {report.beat_alignment:.2f}")
    parts = [report.summary or report.method, text]
    if report.clips:
        parts.append(clips_line(report.clips))
    return "; ".join([*parts, *report.messages])


def clips_line(clips: tuple[tuple[str, int], ...], top: int = 3) -> str:
    """"moves from cmu-salsa/60_02 (23), cmu-salsa/61_01 (12), cmu-modern/005_14 (9) and 11 more clips"."""
    shown = ", ".join(f"{clip} ({n})" for clip, n in clips[:top])
    rest = len(clips) - top
    return f"moves from {shown}" + (f" and {rest} more clip{'s' if rest > 1 else ''}" if rest > 0 else "")
