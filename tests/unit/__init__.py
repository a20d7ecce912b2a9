"""Unit tests: no services (no pcscd, sandbox or Dovecot); `make test-fast` runs them."""
