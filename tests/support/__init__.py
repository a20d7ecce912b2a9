"""What the tests share: the private PC/SC stack, Dovecot, the sandbox fixture, fakes, certificates, ports and the Chromium launch. Defined once here; no test module imports another."""
