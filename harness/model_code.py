"""The model repository's logic modules, importable by name outside Triton.

Triton loads each model.py with its own folder on the path, so model.py imports its sibling
(`from tokenization import ...`). Tests and benchmarks get the same modules from here:

    from harness.model_code import postprocessing, tokenization
"""

import importlib
import sys
from pathlib import Path

from conversion.repository import TEMPLATE, VERSION, Pipeline

FOLDERS = {
    "tokenization": TEMPLATE / Pipeline(TEMPLATE).model("tokenizer") / VERSION,
    "postprocessing": TEMPLATE / Pipeline(TEMPLATE).model("postprocess") / VERSION,
}

for _folder in FOLDERS.values():
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

tokenization = importlib.import_module("tokenization")
postprocessing = importlib.import_module("postprocessing")
