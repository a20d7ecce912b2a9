"""PC/SC access. The only package that imports pyscard, and only lazily."""
