# nhicard — every set-up step lives here, so a fresh Debian machine needs only `make demo`
# or `make test` (as root, or with the Debian packages below already installed).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Debian packages: the PC/SC daemon and the vpcd virtual reader, headers and swig to build
# pyscard, pcsc-tools (smartcard_list.txt), Dovecot for the IMAP tests, Chromium and CJK fonts
# for the browser test, util-linux for `unshare` (private pcscd per test session).
APT_PACKAGES := pcscd vsmartcard-vpcd libpcsclite-dev swig pcsc-tools dovecot-imapd \
                chromium fonts-noto-cjk curl util-linux procps python3-venv \
                faketime libnss3-tools ca-certificates
DEMO_DIR ?= $(CURDIR)/.demo

.PHONY: all system venv pcscd test demo-at lint typecheck completions check-completions check demo bench profile-job clean

all: venv

system:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	else echo "(not root or no apt-get: assuming the packages $(APT_PACKAGES) are installed)"; fi

$(BIN)/nhicard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,sandbox]'
	@touch $@

venv: system $(BIN)/nhicard

test: venv
	$(BIN)/pytest -q -ra

# The demo at another hour: every process under libfaketime (tests/clocks.py), e.g.
#   make demo-at AT=2026-12-01T23:30:00 [TZ_AT=Asia/Taipei]
# (the test suite itself is not run under libfaketime: its threaded TLS tests abort there;
# tests/test_time_of_day.py runs the CLI and the sandbox under it instead)
AT    ?= 2026-12-01T23:30:00
TZ_AT ?= UTC
demo-at: venv pcscd
	@rm -rf $(DEMO_DIR)
	@NHICARD_STATE_DIR=$(DEMO_DIR) BIN=$(BIN) $(BIN)/python -m tests.clocks $(AT) $(TZ_AT) -- bash tests/demo.sh

lint: venv
	$(BIN)/ruff check nhicard tests $(wildcard benchmarks/*.py)
	$(BIN)/ruff format --check nhicard tests $(wildcard benchmarks/*.py)

typecheck: venv
	$(BIN)/mypy

completions: venv
	$(BIN)/nhicard completion bash > completions/nhicard.bash
	$(BIN)/nhicard completion zsh > completions/_nhicard
	$(BIN)/nhicard completion fish > completions/nhicard.fish

check-completions: venv
	@for pair in "bash nhicard.bash" "zsh _nhicard" "fish nhicard.fish"; do \
	  set -- $$pair; \
	  $(BIN)/nhicard completion $$1 | diff -u completions/$$2 - \
	    || { echo "completions/$$2 is stale: run 'make completions'"; exit 1; }; \
	done; echo "completions up to date"

check: lint typecheck check-completions test

# A PC/SC service that answers: asked of the socket (a PC/SC client establishing a context, which
# `nhicard reader list` does; exit 3 = no service), not of the process list, since a pcscd in
# another mount namespace or container shows in `pgrep` while nothing answers here, and with
# systemd socket activation no pcscd process exists until the first client connects.
pcscd: venv
	@$(BIN)/nhicard reader list --format json >/dev/null 2>&1; rc=$$?; \
	if [ $$rc -eq 3 ]; then \
	  echo "+ pcscd (no PC/SC service answers at its socket: starting the PC/SC daemon)"; \
	  pcscd || true; \
	  for i in $$(seq 50); do \
	    $(BIN)/nhicard reader list --format json >/dev/null 2>&1; rc=$$?; [ $$rc -ne 3 ] && break; sleep 0.1; \
	  done; \
	  [ $$rc -ne 3 ] || { echo "pcscd did not start: see 'pcscd --foreground --debug'"; exit 3; }; \
	fi

# The demo: a PC/SC service (started if none answers), the sandbox with its virtual card on vpcd,
# then the commands a user runs, each printed before it runs.
demo: venv pcscd
	@rm -rf $(DEMO_DIR)
	@NHICARD_STATE_DIR=$(DEMO_DIR) BIN=$(BIN) bash tests/demo.sh

bench: venv pcscd
	$(BIN)/python benchmarks/run.py

# Where the sandbox job's time goes, per command: start-up, imports, profile load, HTTP wait,
# server time, agent time, own code, exit (benchmarks/profile_job.py; JOBS=N, ARGS=--importtime).
JOBS ?= 5
profile-job: venv
	$(BIN)/python benchmarks/profile_job.py --jobs $(JOBS) $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache $(DEMO_DIR)
