"""Client for the served pipelines (the `sentiment` ensemble by default): raw text, or text pairs, in; labels out."""

from .classify import Classifier, ClientError, Prediction, classify

__all__ = ["Classifier", "ClientError", "Prediction", "classify"]
