# skewguard — every command people and CI use. `make` alone lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup venv jars es-start es-stop es-status es-start-secure es-stop-secure \
        spark-cluster-start spark-cluster-stop submit-args demo test test-unit lint bench-ingest bench-logger \
        bench-transforms bench-parity bench-soak bench-faults bench-llm_datasets bench-drift bench-evaluate-llm \
        bench-drift-power bench-evaluate bench-storage browser docs clean

help: ## list the commands
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[1m%-20s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: venv jars es-start ## everything the demo and tests need: virtualenv, jars, Elasticsearch

venv: ## create .venv and install skewguard with pinned dependencies
	@bash scripts/setup_venv.sh

jars: ## download the Delta and ES-Hadoop jars into .cache/jars
	@bash scripts/fetch_jars.sh

es-start: ## start the local Elasticsearch (http://127.0.0.1:9200, security off)
	@bash scripts/es.sh start local

es-stop: ## stop the local Elasticsearch
	@bash scripts/es.sh stop local

es-status: ## health of the local Elasticsearch
	@bash scripts/es.sh status local

es-start-secure: ## start the secured Elasticsearch (https://127.0.0.1:9201, CA, writer/reader/admin users)
	@bash scripts/es.sh start secure

es-stop-secure: ## stop the secured Elasticsearch
	@bash scripts/es.sh stop secure

spark-cluster-start: venv ## start a local Spark standalone master + worker (spark://127.0.0.1:7077)
	@bash scripts/spark_cluster.sh start

spark-cluster-stop: ## stop the local Spark standalone cluster
	@bash scripts/spark_cluster.sh stop

submit-args: venv jars ## print the spark-submit arguments (jars, Delta conf, --py-files)
	@$(VENV)/bin/skewguard submit-args

demo: setup ## set up, then the closed loop: logs → bronze → silver → labels → training set → model → bundle → serving → logs
	@$(VENV)/bin/skewguard demo

TEST_WORKERS ?= 2

test: ## set up, then run the whole test suite: the Spark-free tests first, then Spark, Elasticsearch, faults, cluster, notebooks
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory setup browser
	@$(PY) -m pytest --ignore=tests/unit -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-unit: venv ## only the tests that need neither Spark nor Elasticsearch (seconds)
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: venv ## ruff (lint + format check) and mypy on transforms/ and schemas/
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

bench-ingest: setup ## benchmark: 1M generated records, ingest vs bare connector read vs raw sliced scroll
	@$(PY) -m benchmarks.bench_ingest

bench-logger: setup ## benchmark: serving logger call latency and throughput vs parallel_bulk
	@$(PY) -m benchmarks.bench_logger

bench-faults: setup ## benchmark: bad input through the logger (any value, a spool shared by 4 processes) and load + ingest; records lost and duplicated, logger vs parallel_bulk
	@$(PY) -m benchmarks.bench_faults

bench-transforms: venv jars ## benchmark: shared pipeline through Arrow vs the same transforms as native Spark, 10M rows
	@$(PY) -m benchmarks.bench_transforms

bench-parity: venv jars ## benchmark: the parity gate end to end on 10,000 examples (target ≤ 30 s) and serving latency
	@$(PY) -m benchmarks.bench_parity

bench-soak: setup ## benchmark: 30 simulated days × 4 workloads, daily ingest with lookback 2 and late data, weekly upkeep; checked exactly-once
	@$(PY) -m benchmarks.bench_soak

bench-llm_datasets: venv jars ## benchmark: 1M generated LLM records bronze → silver → datasets vs a bare parse of the same records
	@$(PY) -m benchmarks.bench_llm_datasets

bench-drift: venv jars ## benchmark: drift job on 10M rows × 23 features vs a bare scan of the same columns and Evidently on 1M + 1M rows
	@bash scripts/evidently_env.sh
	@$(PY) -m benchmarks.bench_drift

bench-evaluate-llm: venv jars ## benchmark: the LLM evaluation's endpoint path on generated eval records against a local stub endpoint, records/s at the configured concurrency vs 1
	@$(PY) -m benchmarks.bench_evaluate_llm
bench-drift-power: venv ## benchmark: false alarms and detection of the drift judgement on seeded splits (100 to 100k rows a side, no Spark) next to Evidently's preset
	@bash scripts/evidently_env.sh
	@$(PY) -m benchmarks.bench_drift_power
bench-evaluate: venv jars ## benchmark: evaluate_models on 10M labelled examples × 2 bundles (200-replicate CIs) vs a bare scan of the same columns; bootstrap CI coverage in a seeded simulation
	@$(PY) -m benchmarks.bench_evaluate

bench-storage: setup ## benchmark: bytes per logged record (1M generated) as raw JSON, in Elasticsearch (codecs, mappings), bronze (snappy, zstd) and silver; minimisation and sampling; storage per day at 20,000 QPS
	@$(PY) -m benchmarks.bench_storage

browser: ## Debian's Chromium for the report tests (installed when missing)
	@bash scripts/browser.sh ensure

docs: venv ## regenerate the README's reference section (record kinds, tables) from schemas/
	@$(PY) -m schemas.docs

clean: ## stop servers and remove the local lakehouse (keeps downloads)
	-@bash scripts/es.sh stop local; bash scripts/es.sh stop secure; bash scripts/spark_cluster.sh stop
	rm -rf lakehouse spark-warehouse .cache/demo
