"""What the tests, the benchmarks and the evaluator measure the product against; no image carries it.

- eager.py: the eager PyTorch classifier a repository was converted from (the reference the served
  answers must match);
- random_checkpoint.py, tiny_roberta.py: RoBERTa checkpoints built here (random weights, a tokenizer
  trained on data/corpus.txt), so nothing is downloaded;
- model_code.py: the model repository's logic modules (tokenization, postprocessing),
  importable by name outside Triton;
- object_store.py: a local S3-compatible store (SeaweedFS) for `make store`, the tests and the
  start-up benchmark.
"""
