# airsign — build glue. On a fresh Debian 12 machine (as root) `make test` and
# `make demo` need nothing else: `make tools` installs the real tools the tests
# run against and records their paths in $(TOOLS_ENV).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
TOOLS_ENV := target/tools.env
# Exports every AIRSIGN_TEST_* variable of $(TOOLS_ENV) into a recipe's shell.
WITH_TOOLS := set -a && . $(TOOLS_ENV) && set +a &&

.PHONY: help tools rust-components test lint unit demo bench fixtures fuzz fuzz-tools clean

help:
	@echo "make test      fmt + clippy + every test, against the real tools (installs them)"
	@echo "make demo      release build, then scripts/demo.sh (sign, verify, export/import, sync to a loopback registry, cosign/skopeo verify there)"
	@echo "make bench     release benchmarks (BENCH=fsck|sign|export|sync selects a section)"
	@echo "make fuzz      every cargo-fuzz target for FUZZ_RUNS runs (default 100000; FUZZ_RUNS=10000000 is the full campaign)"
	@echo "make fixtures  rebuild fixtures/ with scripts/make-fixtures.sh"
	@echo "make tools     install the tools, write $(TOOLS_ENV)"

# Always re-run: the script is idempotent and fast once everything is there, and a
# stale env file would point the tests at tools that are gone.
tools: rust-components
	@mkdir -p target
	bash scripts/install-tools.sh > $(TOOLS_ENV).new
	@mv $(TOOLS_ENV).new $(TOOLS_ENV)
	@echo "tool paths in $(TOOLS_ENV)"

# clippy and rustfmt come with the toolchain here; add them if missing, and say so
# plainly when rustup cannot download them.
rust-components:
	@for c in clippy:clippy fmt:rustfmt; do \
	  sub=$${c%%:*}; comp=$${c#*:}; \
	  if ! $(CARGO) $$sub --version >/dev/null 2>&1; then \
	    echo "cargo $$sub missing: rustup component add $$comp"; \
	    rustup component add "$$comp" || { echo "error: cannot install the $$comp component (no rustup download?); install it and re-run" >&2; exit 1; }; \
	  fi; \
	done

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# cargo test comes last so that its "test result" lines end the output.
test: tools lint
	$(WITH_TOOLS) $(CARGO) test

demo: tools
	$(CARGO) build --release
	$(WITH_TOOLS) AIRSIGN=target/release/airsign bash scripts/demo.sh

# Benchmarks never run inside `make test`. The bench builds target/release/airsign
# (the bench profile inherits release) and reads the tool paths.
BENCH ?=
bench: tools
	$(CARGO) build --release
	$(WITH_TOOLS) $(CARGO) bench --bench airsign -- $(BENCH)

# Fuzzing never runs inside `make test`: cargo-fuzz needs the nightly toolchain and
# libFuzzer, and the targets run one after the other (docs/fuzzing.md).
# FUZZ_MAX_TIME caps each target's seconds (default FUZZ_RUNS/500, at least 600);
# FUZZ_TARGETS picks some of them.
FUZZ_RUNS ?= 100000
FUZZ_MAX_TIME ?=
FUZZ_TARGETS ?=
fuzz: fuzz-tools
	FUZZ_RUNS='$(FUZZ_RUNS)' FUZZ_MAX_TIME='$(FUZZ_MAX_TIME)' FUZZ_TARGETS='$(FUZZ_TARGETS)' \
	  bash scripts/fuzz.sh

# The nightly toolchain and cargo-fuzz, installed once (idempotent).
fuzz-tools:
	@rustup run nightly rustc --version >/dev/null 2>&1 || { \
	  echo "installing the nightly toolchain (cargo-fuzz needs it)"; \
	  rustup toolchain install nightly --profile minimal; }
	@$(CARGO) +nightly fuzz --version >/dev/null 2>&1 || { \
	  echo "installing cargo-fuzz"; $(CARGO) install cargo-fuzz --locked; }

fixtures: tools
	$(WITH_TOOLS) bash scripts/make-fixtures.sh fixtures

clean:
	$(CARGO) clean
