"""The NHI card: session (APDUs), profile model, ROC dates, ID check digit."""
