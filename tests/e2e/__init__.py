"""End-to-end tests: a real headless Chromium on the sandbox pages (they fail, not skip, under CI without it)."""
