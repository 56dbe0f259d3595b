"""Client for the `sentiment` ensemble: raw text in, labels out."""

from .classify import Classifier, ClientError, Prediction, classify

__all__ = ["Classifier", "ClientError", "Prediction", "classify"]
