# nhicard — every set-up step lives here, so a fresh Debian machine needs only `make demo`
# or `make test` (as root, or with the Debian packages below already installed).

# pyscard has no Linux wheels on PyPI (only Windows and macOS), so pip would compile it and need
# gcc and python3-dev. Debian builds it already (python3-pyscard: 2.0.5 on Debian 12, 2.2 on 13):
# the venv is made from Debian's own Python with --system-site-packages, so it sees that pyscard
# and nothing here needs a compiler. (Another Python, PYTHON=..., makes pip build pyscard.)
PYTHON ?= /usr/bin/python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Debian packages: the PC/SC daemon, the CCID driver for real readers and the vpcd virtual
# reader, Debian's pyscard and venv, pcsc-tools (smartcard_list.txt), Dovecot for the IMAP tests,
# Chromium and CJK fonts for the browser tests, util-linux for `unshare` (a private pcscd per
# test session), iproute2 (loopback in private network namespaces), faketime for the tests at
# other hours.
APT_PACKAGES := pcscd libccid vsmartcard-vpcd python3 python3-venv python3-pyscard pcsc-tools \
                dovecot-imapd chromium fonts-noto-cjk curl util-linux procps iproute2 \
                faketime libnss3-tools ca-certificates
# Only for `make test`: a C compiler for the tests' one-function faketime shim (tests/support/clocks.py).
# nhicard itself, its install and `make demo` need none.
TEST_APT_PACKAGES := gcc libc6-dev
DEMO_DIR ?= $(CURDIR)/.demo

.PHONY: all system test-system apt-install venv pcscd test test-fast demo-at lint typecheck completions check-completions check demo bench profile-job fresh-root catalogs dist man clean

all: venv

system:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-system:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES) $(TEST_APT_PACKAGES)"

apt-install:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	else echo "(not root or no apt-get: assuming the packages $(PACKAGES) are installed)"; fi

$(BIN)/nhicard: pyproject.toml
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,sandbox]'
	@touch $@

venv: system $(BIN)/nhicard

test: test-system venv
	$(BIN)/pytest -q -ra

# The unit tests only (tests/unit: no pcscd, sandbox, Dovecot or browser), on two workers:
# well under a minute. tests/stack and tests/e2e need `make test`.
test-fast: venv
	$(BIN)/pytest -q -n 2 tests/unit

# The demo at another hour: every process under libfaketime (tests/support/clocks.py), e.g.
#   make demo-at AT=2026-12-01T23:30:00 [TZ_AT=Asia/Taipei]
# (the test suite itself is not run under libfaketime: its threaded TLS tests abort there;
# tests/stack/test_time_of_day.py runs the CLI and the sandbox under it instead)
AT    ?= 2026-12-01T23:30:00
TZ_AT ?= UTC
demo-at: venv pcscd
	@rm -rf $(DEMO_DIR)
	@NHICARD_STATE_DIR=$(DEMO_DIR) BIN=$(BIN) $(BIN)/python -m tests.support.clocks $(AT) $(TZ_AT) -- bash tests/demo.sh

lint: venv
	$(BIN)/ruff check nhicard tests $(wildcard benchmarks/*.py)
	$(BIN)/ruff format --check nhicard tests $(wildcard benchmarks/*.py)

typecheck: venv
	$(BIN)/mypy

completions: venv
	$(BIN)/nhicard completion bash > completions/nhicard.bash
	$(BIN)/nhicard completion zsh > completions/_nhicard
	$(BIN)/nhicard completion fish > completions/nhicard.fish
	$(BIN)/nhicard completion powershell > completions/nhicard.ps1

check-completions: venv
	@for pair in "bash nhicard.bash" "zsh _nhicard" "fish nhicard.fish" "powershell nhicard.ps1"; do \
	  set -- $$pair; \
	  $(BIN)/nhicard completion $$1 | diff -u completions/$$2 - \
	    || { echo "completions/$$2 is stale: run 'make completions'"; exit 1; }; \
	done; echo "completions up to date"

check: lint typecheck check-completions test

# A PC/SC service that answers: asked of the socket (a PC/SC client establishing a context, which
# `nhicard reader list` does; exit 3 = no service), not of the process list, since a pcscd in
# another mount namespace or container shows in `pgrep` while nothing answers here, and with
# systemd socket activation no pcscd process exists until the first client connects.
# pcsc-lite 2 (Debian 13) asks polkit about every client and refuses all of them, root too, when
# no polkitd answers (a minimal machine or a container): only such a daemon of ours goes without.
pcscd: venv
	@$(BIN)/nhicard reader list --format json >/dev/null 2>&1; rc=$$?; \
	if [ $$rc -eq 3 ]; then \
	  echo "+ pcscd (no PC/SC service answers at its socket: starting the PC/SC daemon)"; \
	  if pcscd --help 2>&1 | grep -q -e --disable-polkit && ! pgrep -x polkitd >/dev/null; then \
	    echo "  (pcsc-lite 2 asks polkit, and no polkitd runs here to answer: this demo daemon" \
	         "is started with --disable-polkit)"; \
	    pcscd --disable-polkit || true; \
	  else pcscd || true; fi; \
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

# A fresh minimal Debian root (debootstrap --variant=minbase, then only git, make and
# ca-certificates, as the README's fresh machine), a fresh clone of this repository's HEAD in it,
# SETUP run there with the network (package installs), then RUN without it (loopback only), in
# private mount, pid and network namespaces (tests/support/freshroot.py). As root; e.g.
#   make fresh-root SUITE=trixie RUN="make demo test"     (Debian 13: Python 3.13, pcsc-lite 2)
#   make fresh-root SUITE=bookworm RUN="make demo test"   (Debian 12: Python 3.11, pyscard 2.0.5)
SUITE       ?= trixie
SETUP       ?= make test-system venv
RUN         ?= make demo test
FRESH_ROOTS ?= /var/tmp/nhicard-roots
fresh-root:
	/usr/bin/python3 -m tests.support.freshroot --suite $(SUITE) --dir $(FRESH_ROOTS)/$(SUITE) \
	  --setup '$(SETUP)' --run '$(RUN)'

# The zh-TW help catalog: new English help strings into the .po (Babel), then the .mo the package
# ships. Workflow: change a help text, `make catalogs`, translate the new empty msgstr in
# nhicard/locale/zh_TW/LC_MESSAGES/nhicard.po, `make catalogs` again (tests/unit/test_help_catalog.py
# fails while a help string has no translation or the .mo is older than the .po).
catalogs: venv
	$(BIN)/python -m tests.support.help_catalog update
	$(BIN)/python -m tests.support.help_catalog compile

# The wheel and sdist (hatchling; the man pages are generated into the wheel), checked as PyPI
# would: `twine upload dist/*` publishes them.
dist: venv
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

# The man pages from the live --help, to read before a release: man -l build/man/man1/nhicard.1
man: venv
	mkdir -p build/man/man1 build/man/zh_TW/man1
	$(BIN)/python -m nhicard.cli.manpage --lang en -o build/man/man1/nhicard.1
	$(BIN)/python -m nhicard.cli.manpage --lang zh-TW -o build/man/zh_TW/man1/nhicard.1

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache $(DEMO_DIR)
