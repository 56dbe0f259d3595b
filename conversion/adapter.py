"""Low-rank adapters (LoRA) on a sentence encoder's linear layers, with a linear label head.

The trained default model ships as such an adapter: a small file beside this module, trained by
`python -m evaluation.train_default`. Conversion merges it into plain weights (W + scale·B·A), so
what is traced is an ordinary encoder and a SentenceClassifier.
"""

import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .checkpoint import ConversionError
from .sentence_classifier import SentenceClassifier

DEFAULT_ADAPTER = Path(__file__).resolve().parent / "adapters" / "sentiment-lora.safetensors"


class LowRankLinear(torch.nn.Module):
    """A frozen linear layer plus a trainable low-rank update: y = Wx + b + scale·B(Ax)."""

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.a = torch.nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale


def linear_layers(encoder: torch.nn.Module) -> list[str]:
    return [name for name, module in encoder.named_modules() if isinstance(module, torch.nn.Linear) and ".layer." in f".{name}"]


def _set(root: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def attach(encoder: torch.nn.Module, rank: int, alpha: float) -> dict[str, LowRankLinear]:
    """Freeze the encoder and give each of its transformer layers' linear layers an adapter (for training)."""
    encoder.requires_grad_(False)
    adapters = {}
    for name in linear_layers(encoder):
        adapters[name] = LowRankLinear(encoder.get_submodule(name), rank, alpha)
        _set(encoder, name, adapters[name])
    return adapters


def save(path: Path, adapters: dict[str, LowRankLinear], head: torch.nn.Linear, labels: list[str], record: dict) -> None:
    """Adapters and head as float16 tensors; labels, scale and how it was trained in the metadata."""
    tensors = {f"{name}.lora_a": adapter.a for name, adapter in adapters.items()}
    tensors |= {f"{name}.lora_b": adapter.b for name, adapter in adapters.items()}
    tensors |= {"head.weight": head.weight, "head.bias": head.bias}
    scale = next(iter(adapters.values())).scale
    metadata = {"labels": json.dumps(labels), "scale": repr(scale), "record": json.dumps(record)}
    save_file({key: value.detach().to(torch.float16).contiguous() for key, value in tensors.items()}, str(path), metadata)


def load(path: Path) -> tuple[dict[str, torch.Tensor], list[str], float, dict]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
        tensors = {key: value.float() for key, value in load_file(str(path)).items()}
        return tensors, json.loads(metadata["labels"]), float(metadata["scale"]), json.loads(metadata["record"])
    except (OSError, KeyError, ValueError, TypeError, SafetensorError) as error:
        raise ConversionError(f"cannot read the adapter {path}: {error}") from None


def build(encoder: torch.nn.Module, path: Path) -> tuple[list[str], SentenceClassifier]:
    """The encoder with the adapter merged into its weights, under the adapter's label head."""
    tensors, labels, scale, _ = load(path)
    names = linear_layers(encoder)
    missing = [name for name in names if f"{name}.lora_a" not in tensors]
    if missing:
        raise ConversionError(f"{path} has no adapter for {missing[0]}: it was trained for another encoder")
    with torch.no_grad():
        for name in names:
            layer = encoder.get_submodule(name)
            layer.weight += scale * tensors[f"{name}.lora_b"] @ tensors[f"{name}.lora_a"]
    return labels, SentenceClassifier(encoder.eval(), tensors["head.weight"], tensors["head.bias"])
