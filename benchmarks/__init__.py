"""The performance benchmark behind ``make bench`` (see README.md in this folder)."""
