# distilvit: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel on this kind of machine's disk; an open `torch` pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.DEFAULT_GOAL := help
.PHONY: help install test test-browser lint bench demo serve gradio

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

STAMP := $(VENV)/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# Browser tests: Debian's chromium (never `npx playwright install`: it downloads a browser) and
# the npm packages of package.json. onnxruntime-node's install script fetches a binary: skipped.
CHROMIUM ?= /usr/bin/chromium
NODE_STAMP := node_modules/.installed

$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium

$(NODE_STAMP): package.json package-lock.json
	ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP) | $(CHROMIUM) ## create .venv (torch CPU + distilvit[dev]), npm packages, chromium

# pytest-xdist workers, each with one OpenMP thread (a serial run keeps ~1 of 2 cores busy).
# A test file runs whole in one worker (`loadfile`): its module fixtures and the real-LM
# chain of tests/test_real_lm.py are built once. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,OMP_NUM_THREADS=1)
test: install ## run the test suite (in TEST_WORKERS=2 processes)
	$(PARALLEL) $(PY) -m pytest -q $(if $(PARALLEL),-n $(TEST_WORKERS) --dist loadfile)

test-browser: install ## the real-Chromium tests alone (browser module, demo page, transformers.js)
	$(PY) -m pytest -q tests/test_browser_units.py tests/test_browser_captioner.py \
		tests/test_browser_demo.py tests/test_transformers_js.py \
		tests/test_real_lm.py::test_real_lm_browser_tokens_equal_python_ort

lint: install ## ruff
	$(PY) -m ruff check src tests bench

bench: install ## the eight benches (base architecture, random weights; serve_load also a trained tiny model), JSON in runs/bench
	$(PY) bench/generate_latency.py --json runs/bench/generate_latency.json
	$(PY) bench/train_throughput.py --json runs/bench/train_throughput.json
	$(PY) bench/export_latency.py --json runs/bench/export_latency.json
	$(PY) bench/browser_latency.py --json runs/bench/browser_latency.json
	$(PY) bench/transformersjs_latency.py --json runs/bench/transformersjs_latency.json
	$(PY) bench/serve_load.py --json runs/bench/serve_load.json
	$(PY) bench/batch_caption.py --json runs/bench/batch_caption.json
	$(PY) bench/architecture_comparison.py --json runs/bench/architecture_comparison.json

# ----- training (see docs/training.md) -----------------------------------------------------
DATASET ?= shapes
EPOCHS ?= 3
SAMPLE ?= 0
ENCODER ?=
DECODER ?=
MAX_LENGTH ?=
OUT ?= runs/train
MODEL ?= $(OUT)
TRAIN_FLAGS = --dataset $(DATASET) --num-train-epochs $(EPOCHS) --sample $(SAMPLE) \
	--output-dir $(OUT) $(if $(ENCODER),--encoder-model $(ENCODER)) \
	$(if $(DECODER),--decoder-model $(DECODER)) $(if $(MAX_LENGTH),--max-length $(MAX_LENGTH))

.PHONY: train train-quick train-compact train-modern train-large train-all eval tiny-bases
train: install ## train (PRESET=base DATASET=shapes EPOCHS=3 SAMPLE ENCODER DECODER MAX_LENGTH OUT)
	$(VENV)/bin/distilvit train --preset $(or $(PRESET),base) $(TRAIN_FLAGS)

train-quick: OUT = runs/quick
# fp32: at the tiny widths bf16 autocast measured slower than fp32 on these CPUs.
train-quick: install ## the offline default: tiny preset on shapes, <= 5 min on 2 CPU cores
	$(VENV)/bin/distilvit train --preset tiny --dataset shapes --output-dir $(OUT) \
		--num-train-epochs 5 --max-minutes 3.5 --precision fp32 \
		--projection-lr 0.005 --lora-lr 0.003
	$(VENV)/bin/distilvit eval $(OUT) --dataset shapes --split test --blind \
		--json $(OUT)/blind.json

train-compact: install ## compact preset (SigLIP-base + DistilGPT-2: the browser-sized one)
	$(VENV)/bin/distilvit train --preset compact $(TRAIN_FLAGS)

train-modern: install ## modern preset (SigLIP-2 + SmolLM-360M)
	$(VENV)/bin/distilvit train --preset modern $(TRAIN_FLAGS)

train-large: install ## large preset (SigLIP so400m + SmolLM-1.7B)
	$(VENV)/bin/distilvit train --preset large $(TRAIN_FLAGS)

train-all: DATASET = all
train-all: install ## base preset on every hub dataset
	$(VENV)/bin/distilvit train --preset base $(TRAIN_FLAGS)

eval: install ## score MODEL on DATASET's test split (writes MODEL/metrics.json)
	$(VENV)/bin/distilvit eval $(MODEL) --dataset $(DATASET) --split test \
		--json $(MODEL)/metrics.json

tiny-bases: install ## rebuild the shipped tiny bases from a seed (tens of minutes)
	$(PY) -m distilvit.tinybases

# ----- ONNX export (see docs/onnx-export.md) -----------------------------------------------
QUANTIZE ?= int8
# OUT defaults to runs/train above (the training folder); unless given, export beside MODEL.
EXPORT_OUT = $(if $(filter command line environment,$(origin OUT)),$(OUT),$(MODEL)-onnx)

.PHONY: export
export: install ## ONNX graphs + INT8, checked against torch (MODEL, OUT=MODEL-onnx, QUANTIZE)
	$(VENV)/bin/distilvit export $(MODEL) --output-dir $(EXPORT_OUT) --quantize $(QUANTIZE)

# ----- batch captioning (see docs/batch.md) -------------------------------------------------
IMAGES ?=
ENGINE ?= local
VARIANT ?= fp32
CAPTION_MODEL = $(if $(filter command line environment,$(origin MODEL)),$(MODEL))
CAPTION_TO = $(if $(filter command line environment,$(origin OUT)),--output $(OUT),\
	--output $(IMAGES) --output-format imagefolder)

.PHONY: caption-folder
caption-folder: install ## caption every image under IMAGES (MODEL=an export, OUT=x.jsonl|x.parquet, default IMAGES/metadata.jsonl; ENGINE=local|ray); resumable
	@test -n "$(IMAGES)" -a -n "$(CAPTION_MODEL)" || \
		{ echo "error: give IMAGES=a folder and MODEL=a model folder (an ONNX export)"; exit 2; }
	$(VENV)/bin/distilvit caption $(CAPTION_MODEL) $(IMAGES) $(CAPTION_TO) --engine $(ENGINE) \
		--onnx-variant $(VARIANT)

# ----- dataset tools (see docs/dataset_quality.md, docs/fighting_bias.md) ------------------
MERGE_DATASETS ?= coco flickr pexels docornot validation
MERGE_SAVE ?= runs/merged
PUSH_TO_HUB ?=
PRIVATE ?=
DRY_RUN ?=
QUALITY_DATASET ?= $(DATASET)
QUALITY_SPLIT ?= test
QUALITY_OUT ?= quality_reports
RARE_THRESHOLD ?= 50
RARE_OBJECTS ?= $(QUALITY_OUT)/objects_below_$(RARE_THRESHOLD).csv
PROMPTS_PER_OBJECT ?= 5
PROMPTS_OUT ?= synthetic_prompts.jsonl

.PHONY: merge-datasets quality-report quality-report-quick generate-prompts
merge-datasets: install ## merge MERGE_DATASETS into MERGE_SAVE (SAMPLE, PUSH_TO_HUB=ORG/NAME, PRIVATE=1, DRY_RUN=1)
	$(VENV)/bin/distilvit data merge --datasets $(MERGE_DATASETS) --sample $(SAMPLE) \
		--save-path $(MERGE_SAVE) $(if $(PUSH_TO_HUB),--push-to-hub $(PUSH_TO_HUB)) \
		$(if $(PRIVATE),--private) $(if $(DRY_RUN),--dry-run)

quality-report: install ## quality and bias report (QUALITY_DATASET QUALITY_SPLIT SAMPLE RARE_THRESHOLD QUALITY_OUT)
	$(VENV)/bin/distilvit quality $(QUALITY_DATASET) --split $(QUALITY_SPLIT) \
		--max-samples $(SAMPLE) --rare-threshold $(RARE_THRESHOLD) --output-dir $(QUALITY_OUT)

quality-report-quick: install ## the report on 100 images of the embedded shapes dataset (offline, < 2 min)
	$(VENV)/bin/distilvit quality shapes --split test --max-samples 100 --output-dir $(QUALITY_OUT)

generate-prompts: install ## text-to-image prompts for the rare objects of the last report (RARE_OBJECTS, PROMPTS_PER_OBJECT)
	$(VENV)/bin/distilvit data prompts --rare-objects $(RARE_OBJECTS) \
		--prompts-per-object $(PROMPTS_PER_OBJECT) --output $(PROMPTS_OUT)

# ----- browser demo (see docs/browser.md) --------------------------------------------------
EXPORTED ?=
PORT ?= 8000
demo: install ## browser demo on http://127.0.0.1:PORT/ (PORT=8000, EXPORTED=an exported folder, optional)
	$(VENV)/bin/distilvit demo $(EXPORTED) --port $(PORT)

# ----- servers (see docs/serving.md) -------------------------------------------------------
serve: install ## REST API for MODEL (an export or a checkpoint) on 127.0.0.1:5000
	$(VENV)/bin/distilvit serve $(MODEL)

gradio: install ## Gradio demo for MODEL on 127.0.0.1:7860
	$(VENV)/bin/distilvit gradio $(MODEL)
