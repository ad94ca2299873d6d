"""Metric names, defined once: early stopping, the best checkpoint, history.csv and tuning all watch ``MONITOR``."""

SPLIT_ERROR = "{split}_error"
MONITOR = "dev_error"  # lower is better; the course tunes on dev, never on test
HISTORY_COLUMNS = ("epoch", "train_loss", "dev_loss", "dev_error", "lr", "seconds")
