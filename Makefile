# The two commands: `make demo` and `make test`. Both are idempotent on a fresh machine:
# they create .venv with python3.11 when missing, install the project and the Debian packages
# it needs when missing, then run.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-all
# Debian packages: Xvfb and Mesa for the Kivy window, espeak-ng and sox for test speech.
APT_PACKAGES := xvfb xauth libgl1-mesa-dri libgl1 libmtdev1 espeak-ng sox
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test setup system-deps lint clean

demo: setup
	$(BIN)/realty-edge demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	@$(BIN)/coverage combine -q >/dev/null 2>&1 || true
	@echo "line coverage of the packages: $$($(BIN)/coverage report --precision=1 --format=total)%"

setup: system-deps $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .demo .coverage .coverage.* .pytest_cache
