"""Stack tests: a private pcscd with the vpcd virtual reader, the sandbox over HTTPS, Dovecot, fresh Debian roots."""
