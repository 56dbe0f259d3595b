"""Client for the `sentiment` ensemble: raw text in, labels out."""

from .classify import ClientError, Prediction, classify

__all__ = ["ClientError", "Prediction", "classify"]
