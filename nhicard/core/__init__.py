"""The kernel every layer may use: typed errors, bilingual text, masking, state paths,
atomic files, closing helpers and the clock. It imports nothing else of nhicard."""
