# `make dev` and `make test` each create the virtualenv they need (./.venv) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: dev test schemas clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

dev: $(BIN)/.installed          ## run the gateway on the embedded broker with a demo config
	$(BIN)/webhook-gateway dev

test: $(BIN)/.installed         ## the whole test suite (unit + against the real broker)
	$(BIN)/pytest

schemas: $(BIN)/.installed      ## regenerate schemas/ from the code's types
	$(BIN)/webhook-gateway schemas --out schemas

clean:
	rm -rf $(VENV) var .pytest_cache
