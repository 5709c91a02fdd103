# The two set-up commands (README): `make demo` and `make test`. Each creates .venv if it is missing.
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export DAGSTER_HOME := $(CURDIR)/dagster_home
# The dagster CLI imports the project from the repo root.
export PYTHONPATH := $(CURDIR)

.PHONY: demo test test-slow lint ui clean browser bench

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# torch first, pinned: the CPU build on local disk (an unpinned torch pulls a CUDA build).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

## Run the main job on the embedded default (sample data in ../shared/data, CPU demo preset).
demo: $(VENV)/.installed
	$(BIN)/dagster job execute -m pipelines.definitions -j rosie_main  # execute: returns when the run ends
	$(PY) -m pipelines.summary
	@echo "Rosie is trained (models/rosie_model). Chat with her: $(BIN)/rosie chat"

# The browser tests drive Debian's Chromium; install it where apt can (CI runs as root).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium not installed: browser tests will be skipped (apt-get install chromium chromium-driver)"

## Run the default (fast) test suite.
test: $(VENV)/.installed browser
	$(BIN)/pytest -q

## Run the slow end-to-end tests.
test-slow: $(VENV)/.installed browser
	$(BIN)/pytest -q -m slow || [ $$? -eq 5 ]  # 5: no slow test selected

## Every speed benchmark against its peer -> benchmarks/results.json and the README's table (not CI).
bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports

ui: $(VENV)/.installed
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf artifacts models dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
