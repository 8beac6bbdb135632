# One-command set-up: every target below creates .venv and installs requirements.txt first, then
# this project itself in editable mode (pyproject.toml: the `dance-addon` command), once (the stamp
# file is newer than requirements.txt and pyproject.toml afterwards, so re-runs install nothing).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test lint demo train train-baseline train-paper-size bench mocap-report eval recognize analyze extension clean

# Other Blenders in venvs of their own, for tests/test_blender_versions.py (and the zip's install
# test on 5.2): the newest, bpy 5.2 LTS on Python 3.13 as Blender 5.1 and later bundle, and the
# older bpy 4.5 LTS (slotted actions) and 4.2 LTS (legacy actions) on $(PYTHON).
COMPAT_STAMPS := .venv-bpy52/.installed .venv-bpy45/.installed .venv-bpy42/.installed
# Python 3.13 for bpy 5.2: python3.13 on the PATH if it runs, else pyenv's 3.13 (or pass PYTHON313=...).
PYTHON313 ?= $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| { p=$$(pyenv prefix 3.13 2>/dev/null) && echo "$$p/bin/python3.13"; })

setup: $(STAMP) $(COMPAT_STAMPS)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	@touch $(STAMP)

.venv-bpy52/.installed: requirements-bpy52.txt
	@test -n "$(PYTHON313)" || { echo "bpy 5.2 needs Python 3.13: install it (e.g. pyenv install 3.13)" \
		"or pass PYTHON313=/path/to/python3.13"; exit 1; }
	@test -x .venv-bpy52/bin/python || $(PYTHON313) -m venv .venv-bpy52
	.venv-bpy52/bin/python -m pip install --disable-pip-version-check -q -r requirements-bpy52.txt
	@touch $@

.venv-bpy%/.installed: requirements-bpy%.txt
	@test -x .venv-bpy$*/bin/python || $(PYTHON) -m venv .venv-bpy$*
	.venv-bpy$*/bin/python -m pip install --disable-pip-version-check -q -r requirements-bpy$*.txt
	@touch $@

test: $(STAMP) $(COMPAT_STAMPS)
	$(PY) -m pytest -q

# ruff (pinned in requirements.txt) with the rules and line length of pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# A dance baked by the add-on's own bake (the default method, the action graph) onto the built-in
# mannequin, in headless Blender: out/demo.blend, out/demo.mp4 (Workbench preview with the music,
# the camera following the dancer), out/demo_contact.png, out/demo.gif and out/demo_methods.png
# (the same song danced by each method). About 3 min on 2 cores.
demo: $(STAMP)
	$(PY) -m dance_addon demo

# The shipped model from scratch, three runs of training/pipeline.py (each: training pairs ->
# training in runs/<name>/ with its loss log loss.jsonl, resumable with --resume -> 8-bit export ->
# the lead of its latents before the beats (training/draw_lead.py, ~2 min) -> held-out evaluation ->
# MODEL_CARD.md): the beat-span recipe (2,000 steps) into baselines/lstm-beat-spans; fine-tuned on
# 5 s windows with the per-joint speed and acceleration terms at 100 (900 steps) into
# baselines/lstm-long-energy; fine-tuned with the pose-drift term at 30 (300 steps) into
# models/dance-lstm. On a 2-core AMD EPYC (Zen 3), one thread, another run beside it: 99 + 64 + 23
# min of training, about 3.3 h in all with the exports and evaluations. On several GPUs or CPU
# processes: `torchrun --nproc_per_node=N -m training.train cache/pairs/train runs/NAME` (README).
FINE_TUNE := --beat-spans --ramp-steps 0 --window 152 --batch-size 16 --lr 0.0003 --energy-weight 100 --accel-weight 100
train: $(STAMP)
	$(PY) -m training.pipeline --name lstm-beat-spans --beat-spans --steps 2000 --ramp-steps 400 --models-dir baselines
	$(PY) -m training.pipeline --name lstm-long-energy --steps 900 $(FINE_TUNE) --models-dir baselines \
		--init-from runs/lstm-beat-spans/checkpoint.pt
	$(PY) -m training.pipeline --name dance-lstm --steps 300 $(FINE_TUNE) --drift-weight 30 \
		--init-from runs/lstm-long-energy/checkpoint.pt

# The evaluation's "LSTM, teacher forcing only" baseline: make train's three runs again with every
# input frame from the ground truth (--teacher-forcing-only), the first two exported to runs/exports/
# (not evaluated), the last into baselines/lstm-teacher-forced (not offered by the add-on). On the
# AMD EPYC: 71 + 27 + 10 min of training. Session 6's baseline is kept as baselines/lstm-teacher-forced-session6.
train-baseline: $(STAMP)
	$(PY) -m training.pipeline --name lstm-tf-beat-spans --teacher-forcing-only --beat-spans --steps 2000 \
		--models-dir runs/exports --no-eval
	$(PY) -m training.pipeline --name lstm-tf-long-energy --teacher-forcing-only --steps 900 $(FINE_TUNE) \
		--models-dir runs/exports --no-eval --init-from runs/lstm-tf-beat-spans/checkpoint.pt
	$(PY) -m training.pipeline --name lstm-teacher-forced --teacher-forcing-only --steps 300 $(FINE_TUNE) \
		--drift-weight 30 --models-dir baselines --init-from runs/lstm-tf-long-energy/checkpoint.pt

# The evaluation's paper-size comparison: the paper's 2 x 1024 LSTM trained with session 6's recipe
# for about as long as that recipe's 2 x 256 run took (450 steps of ~8 s against 3,000 of ~1 s on
# an Intel Xeon; the self-fed ramp cut in proportion), into baselines/ (not offered by the add-on).
train-paper-size: $(STAMP)
	$(PY) -m training.pipeline --name lstm-paper-size --lstm-hidden 1024 --steps 450 --ramp-steps 90 --models-dir baselines

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

# The paper's two-stream dance recognizer on skeletons (training/recognition): pose stream, motion
# stream, late and learned fusion and a 3D-CNN-like baseline, on the genre and the salsa role of
# held-out recordings; one table, printed and written to results/ (recognition.json, .md), the
# confusion matrices to docs/recognition_confusion.png, and make eval's judge of style to
# baselines/dance-recognizer/. About 4 min on a 2-core CPU.
recognize: $(STAMP)
	$(PY) -m training.recognition

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
	rm -rf $(VENV) .venv-bpy52 .venv-bpy45 .venv-bpy42 .pytest_cache out dist results build
