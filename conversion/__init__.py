"""Hugging Face checkpoint → the model repository's artifacts (model.pt, tokenizer.json, labels.json)."""
