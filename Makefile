# The README's two commands: `make demo` (install, index this repository, search it) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU torch first: sentence-transformers' own torch requirement is then met and pip never
# downloads the multi-GB CUDA wheels. On a GPU host: make install TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test lint unit integration bench bench-enrich bench-chunk bench-embed bench-msgpack bench-index clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/ragfleet index . --name ragfleet
	$(BIN)/ragfleet search "walk a repository directory and skip binary files" -k 5

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit -q

integration: install
	$(BIN)/pytest tests/integration -q

test: lint
	$(BIN)/pytest tests -q -ra

# Benchmarks print rich tables (medians of several runs); they assert nothing. `make bench` runs them all.
bench: install bench-enrich bench-chunk bench-embed bench-msgpack bench-index

bench-enrich: install
	$(BIN)/python -m tests.benchmarks.bench_enrich

# The peer splitter (LangChain's) is installed here only, never by `make install`.
bench-chunk: install
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m tests.benchmarks.bench_chunk

bench-index: install
	$(BIN)/python -m tests.benchmarks.bench_index_large

bench-msgpack: install
	$(BIN)/python -m tests.benchmarks.bench_msgpack

bench-embed: install
	$(BIN)/python -m tests.benchmarks.bench_embed

clean:
	-$(BIN)/ragfleet down
	rm -rf $(VENV) .ragfleet .pytest_cache .mypy_cache .ruff_cache
