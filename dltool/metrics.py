"""Names defined once: the splits of every run, and the metric that the best checkpoint, early stopping, history.csv,
pruning and tuning watch."""

SPLITS = ("train", "train_dev", "dev", "test")  # course 3's four sets; train-dev is held out of the training data
MONITOR = "dev_error"  # lower is better; the course tunes on dev, never on test
HISTORY_COLUMNS = ("epoch", "train_loss", "dev_loss", MONITOR, "lr", "seconds")
