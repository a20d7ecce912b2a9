"""nhicard: the Taiwan NHI card (健保卡) from a terminal."""

__version__ = "0.1.0"
