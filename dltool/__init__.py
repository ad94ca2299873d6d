"""dltool: the practical method of deep learning as an experiment runner."""

__version__ = "0.1.0"
