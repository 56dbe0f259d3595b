"""Zero-shot classification with an NLI classifier, as Hugging Face's `pipeline("zero-shot-classification")`
does it: each text is paired with a hypothesis per candidate label ("This example is {}."), and the
entailment logit of each pair says how well the label fits. What conversion decides once for a pipeline:
the hypothesis template, and which logits are entailment and contradiction.
"""

import logging

from tokenizers import Tokenizer

from .checkpoint import ConversionError

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "This example is {}."


def check_template(template: str) -> None:
    """A template takes one label at its one `{}`; anything else is refused in one line."""
    try:
        filled = template.format("LABEL")
    except (IndexError, KeyError, ValueError):
        filled = template
    if template.count("{}") != 1 or filled == template:
        raise ConversionError(f"--hypothesis-template {template!r} must hold {{}} once, where the label goes, and no other braces")


def entailment_logits(label2id: dict[str, int], logits: int) -> tuple[int, int]:
    """The entailment logit's index and the contradiction logit's, as Hugging Face's pipeline finds them:
    the first label whose name starts with "entail", else the last logit; contradiction is the first logit,
    or the last when entailment is the first."""
    if logits < 2:
        raise ConversionError(f"--zero-shot needs an NLI classifier, with entailment and contradiction logits: this one has {logits}")
    named = [index for label, index in label2id.items() if label.lower().startswith("entail")]
    if not named:
        log.warning("no label starts with 'entail' (%s): the last logit is taken as entailment, as Hugging Face's pipeline does", sorted(label2id))
    entailment = named[0] if named else logits - 1
    return entailment, logits - 1 if entailment == 0 else 0


def serving_tokenizer(serving: Tokenizer) -> Tokenizer:
    """A copy that truncates only the text of a (text, hypothesis) pair, as Hugging Face's zero-shot pipeline
    does. The tokenizer model refuses a hypothesis over half the maximum length, so the text can always give way."""
    zero_shot = Tokenizer.from_str(serving.to_str())
    zero_shot.enable_truncation(max_length=serving.truncation["max_length"], strategy="only_first")
    return zero_shot
