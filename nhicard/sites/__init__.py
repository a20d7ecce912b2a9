"""The site profiles: every detail of the real sites and the sandbox as data (the TOML
files here), the one loader, where a SAM listens, and where the running sandbox listens."""
