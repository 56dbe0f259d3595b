"""Hugging Face checkpoint → the model repository's artifacts (model.pt, tokenizer.json, labels.json, conversion.json).

A library with a small command line over it (`python -m conversion`):

    from conversion.convert import ConversionOptions, convert
    manifest = convert(ConversionOptions("cardiffnlp/twitter-roberta-base-sentiment"))

- repository.py: the repository contract (models, artifact paths, the manifest, copying the skeleton);
  standard library only, so the store and the server image use it too;
- convert.py: convert(options) -> Manifest, the whole conversion with its eager checks;
- checkpoint.py, export.py, length_grouping.py, quantize.py: loading, tracing and verifying;
- adapter.py, zero_shot.py, sentence_classifier.py: heads for a sentence encoder (the offline default).

Importing the package itself loads nothing heavy; torch is imported by convert.py and below.
"""
