# Two commands set everything up on a fresh Debian machine:
#   make demo   -- install, then simulate ResNet-18 on the default accelerator
#   make test   -- install, then run the test suite (incl. the notebooks)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps demo test bench rtl-regress clean

# Icarus Verilog (used by the RTL tests) comes from apt; skipped when present.
system-deps:
	@command -v iverilog >/dev/null 2>&1 || { \
	  echo "installing iverilog (apt)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e ".[test]"
	@touch $(STAMP)

install: system-deps $(STAMP)

demo: install
	$(BIN)/coforge simulate --network resnet18 --arch edge_8x8_ws --out out/demo

test: install
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist loadfile

bench: install
	$(BIN)/python benchmarks/run_all.py

rtl-regress: install
	$(BIN)/python -m pytest -q -m slow -n 2

clean:
	rm -rf out build .pytest_cache .hypothesis
