# `make dev` and `make test` each create the virtualenv they need (./.venv) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: dev test kafka chromium schemas bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

dev: $(BIN)/.installed          ## run the gateway on the embedded broker with a demo config
	$(BIN)/webhook-gateway dev

# The providers' npm libraries that tests/unit/test_providers_sdks_js.py checks presets against.
tests/sdk_js/node_modules/.installed: tests/sdk_js/package.json tests/sdk_js/package-lock.json
	@command -v npm >/dev/null || { echo "npm is not installed: the npm libraries' checks will be skipped"; exit 0; }; \
		npm ci --prefix tests/sdk_js --no-audit --no-fund --silent && touch $@

test: $(BIN)/.installed chromium tests/sdk_js/node_modules/.installed  ## lint, type-check gateway/, then the whole suite (unit + real broker + browser)
	$(BIN)/ruff check gateway tests bench
	$(BIN)/mypy
	$(BIN)/pytest

# Apache Kafka as the tests run it (tests/kafka/apache.py): fetched once with Maven into
# ~/.cache/webhook-gateway/, KRaft on free loopback ports, deleted on Ctrl-C. KAFKA_ARGS=--nodes 3,
# KAFKA_VERSION=3.9.2. `make test` starts its own whenever Java is installed.
kafka: $(BIN)/.installed
	$(BIN)/python -m tests.kafka.apache $(KAFKA_ARGS)

# The status page's browser test drives Debian's headless Chromium. Installed once (CI runs as root
# on a clean machine); when it cannot be installed the browser test skips and says why.
chromium:
	@[ -x /usr/bin/chromium ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium could not be installed: tests/browser will be skipped"

schemas: $(BIN)/.installed      ## regenerate schemas/ from the code's types
	$(BIN)/webhook-gateway schemas --out schemas

bench: $(BIN)/.installed        ## gateway vs bare endpoint vs naive peer, one run (~6 min); BENCH_ARGS=--soak for RSS
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
