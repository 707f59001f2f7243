# Two commands set everything up on a fresh Debian machine:
#   make demo   -- install, then simulate ResNet-18 on the default accelerator
#   make test   -- install, lint (ruff check), then run the test suite (incl. the notebooks)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# YoWASP (pip-installed Yosys/nextpnr) compiles its WebAssembly on first use (~40-100 s
# per tool) and caches the result here, so the cold compile happens once per checkout.
export YOWASP_CACHE_DIR ?= $(CURDIR)/build/yowasp-cache

.PHONY: install system-deps demo test bench rtl-regress synth-baseline clean

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
	@$(BIN)/python -m mapper.nest_jit    # compile the nest search's kernels once (~20 s)
	@touch $(STAMP)

install: system-deps $(STAMP)

demo: install
	$(BIN)/coforge simulate --network resnet18 --arch edge_npu_16x16_ws --out out/demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist loadfile

bench: install
	$(BIN)/python benchmarks/run_all.py

# The slow sweeps: RTL-vs-sim cycles over every configuration, and the synthesis sweep
# (ECP5 + iCE40 place-and-route, ~30 min) against the baseline of the installed tools.
rtl-regress: install
	$(BIN)/python -m pytest -q -m slow -n 2

# Re-run the synthesis sweep and store it as the baseline of the installed tool versions
# (tests/data/fpga_baselines/<versions>/sweep.json); prints the model fit.
synth-baseline: install
	$(BIN)/python -m hdl.synth_sweep --update-baseline --fit

clean:
	rm -rf out build .pytest_cache .hypothesis
