# One-command set-up: every target below creates .venv and installs requirements.txt first,
# once (the stamp file is newer than requirements.txt afterwards, so re-runs install nothing).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test demo train train-baseline bench mocap-report eval analyze extension clean

# Older Blenders (bpy 4.5 LTS with slotted actions, 4.2 LTS with legacy actions) in venvs of
# their own, for tests/test_blender_versions.py.
COMPAT_STAMPS := .venv-bpy45/.installed .venv-bpy42/.installed

setup: $(STAMP) $(COMPAT_STAMPS)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $(STAMP)

.venv-bpy%/.installed: requirements-bpy%.txt
	@test -x .venv-bpy$*/bin/python || $(PYTHON) -m venv .venv-bpy$*
	.venv-bpy$*/bin/python -m pip install --disable-pip-version-check -q -r requirements-bpy$*.txt
	@touch $@

test: $(STAMP) $(COMPAT_STAMPS)
	$(PY) -m pytest -q

# A dance baked by the add-on's own bake (the default method, the action graph) onto the built-in
# mannequin, in headless Blender: out/demo.blend, out/demo.mp4 (Workbench preview with the music,
# the camera following the dancer), out/demo_contact.png, out/demo.gif and out/demo_methods.png
# (the same song danced by each method). About 3 min on 2 cores.
demo: $(STAMP)
	$(PY) -m dance_addon demo

# The shipped model from scratch: training pairs -> training (runs/dance-lstm/, resumable with
# `python -m training.pipeline --resume`) -> 8-bit export to models/dance-lstm/ -> held-out
# evaluation -> models/dance-lstm/MODEL_CARD.md. About 55 min on a 2-core CPU.
train: $(STAMP)
	$(PY) -m training.pipeline --name dance-lstm

# The evaluation's "LSTM, teacher forcing only" baseline: the same network, data and steps as
# `make train`, every input frame from the ground truth, into baselines/ (not offered by the add-on).
train-baseline: $(STAMP)
	$(PY) -m training.pipeline --name lstm-teacher-forced --teacher-forcing-only --models-dir baselines

# Timings of the hot paths against their references (benchmarks/bench_*.py), one table.
bench: $(STAMP)
	$(PY) -m benchmarks

# Per-bone check of the mocap importer against the source BVH files in ../shared/data.
mocap-report: $(STAMP)
	$(PY) -m training.mocap.report

# Every baseline and every model under models/ and baselines/ through the metrics on the held-out split:
# one table, printed and written to results/ (eval.md, eval.json) with plots.
eval: $(STAMP)
	$(PY) -m training.evaluation.run

# How well the music predicts the motion (the paper's section 4.3, Figures 6 and 7): the action
# graph's music-motion correspondence fitted on the training pairs' beat spans and matched on the
# held-out pairs'; one table, printed and written to results/ (correspondence.md,
# correspondence.json) with plots. About 25 s with the caches, 1 min from a fresh clone.
analyze: $(STAMP)
	$(PY) -m training.graph.correspondence

# Installable zips in dist/, one per platform (linux-x64, windows-x64, macos-arm64, macos-x64),
# onnxruntime bundled as wheels (cached in build/wheels; numpy never bundled). Why these
# onnxruntime versions and Python tags: tools/README.md.
extension: $(STAMP)
	$(PY) tools/build_extension.py

clean:
	rm -rf $(VENV) .venv-bpy45 .venv-bpy42 .pytest_cache out dist results build
