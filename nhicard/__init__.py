"""nhicard: the Taiwan NHI card (健保卡) from a terminal.

The folders are the layers; ``nhicard/README.md`` names each package's job in one line, in
the order imports go (``tests/unit/test_architecture.py`` keeps the two in step).
"""

__version__ = "0.1.0"
