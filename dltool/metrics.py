"""Metric names, defined once: the best checkpoint, early stopping and history.csv (and later tuning) use these."""

MONITOR = "dev_error"  # lower is better; the course tunes on dev, never on test
HISTORY_COLUMNS = ("epoch", "train_loss", "dev_loss", MONITOR, "lr", "seconds")
