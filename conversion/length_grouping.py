"""Length-aware batching inside the TorchScript module, so Triton can batch texts of any length.

Triton's dynamic batcher joins only requests of equal shape, unless an input allows a ragged batch.
The classifier's inputs do (`allow_ragged_batch`): each request sends its rows padded to its own
longest row, and Triton's pytorch backend hands the module every request's tensor flattened and
concatenated, with each input's BATCH_ITEM_SHAPE (per row, the width its request padded it to) as
extra inputs. This module, scripted around the traced classifier, unpacks the rows, sorts them by how
far their attention mask reaches, cuts them into sub-batches of at most a token budget (rows ×
longest row; one for the CPU, one for a GPU), trims each sub-batch to its own longest row, and puts
the logits back in request order. No text travels padded to the maximum length, padding is paid per
group of similar length, never per arrival accident, and the module is plain TorchScript that the
native libtorch backend loads as it is. `ragged_batch` builds the same inputs in process.

Rows the model cannot take (a token id outside its vocabulary, more tokens than its maximum length, a
token type it does not have, a mask of another width than the ids) get NaN logits, and the rest of the
batch is answered. Raising instead would fail every request Triton batched with the bad one, and tell
their clients so with TorchScript's own stack of the model's code.
"""

import logging
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import List, Tuple

import torch

log = logging.getLogger(__name__)

# Tried when conversion measures the CPU budget; the fastest on a mixed-length batch wins.
CANDIDATE_BUDGETS = (64, 128, 256, 512, 1024, 2048, 4096)
# Not measured here (no GPU): one sub-batch holds 32 rows of 512 tokens, enough to keep a
# data-centre GPU busy while still trimming padding per group. Override with --gpu-token-budget.
DEFAULT_GPU_TOKEN_BUDGET = 16384
UNLIMITED = 2**62


@dataclass(frozen=True)
class InputLimits:
    """What the traced classifier can take: ids below `vocab_size`, rows of at most `max_length` tokens,
    token types below `type_vocab_size`."""

    vocab_size: int = UNLIMITED
    max_length: int = UNLIMITED
    type_vocab_size: int = UNLIMITED


class LengthGroupedClassifier(torch.nn.Module):
    """(input_ids, attention_mask) as a ragged batch → logits, run in sub-batches of rows of similar length.

    Each input arrives flat, every request's [rows, width] tensor concatenated, with its
    BATCH_ITEM_SHAPE ([rows in the batch, 1]: each row's width) after all the token inputs.
    """

    cpu_token_budget: int
    gpu_token_budget: int
    vocab_size: int
    max_length: int
    type_vocab_size: int
    pad_id: int

    def __init__(self, classifier: torch.nn.Module, cpu_token_budget: int, gpu_token_budget: int, limits: InputLimits, pad_id: int):
        super().__init__()
        self.classifier = classifier
        self.cpu_token_budget = cpu_token_budget
        self.gpu_token_budget = gpu_token_budget
        self.vocab_size = limits.vocab_size
        self.max_length = limits.max_length
        self.type_vocab_size = limits.type_vocab_size
        self.pad_id = pad_id

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, ids_shape: torch.Tensor, mask_shape: torch.Tensor) -> torch.Tensor:
        widths = ids_shape[:, 0].long()
        width = self._common_width(widths)
        input_ids = self._unpacked(input_ids, widths, width, self.pad_id)
        attention_mask = self._unpacked(attention_mask, mask_shape[:, 0].long(), width, 0)
        valid = (mask_shape[:, 0].long() == widths) & (widths > 0) & self._valid(input_ids, attention_mask)
        input_ids, attention_mask = self._admitted(input_ids, valid), self._admitted_mask(attention_mask, valid)
        order, groups = self._groups(attention_mask)
        parts: List[torch.Tensor] = []
        for members, group_width in groups:
            ids, mask = input_ids.index_select(0, members), attention_mask.index_select(0, members)
            parts.append(self.classifier(ids[:, :group_width].contiguous(), mask[:, :group_width].contiguous()))
        return self._refused_as_nan(self._in_request_order(parts, order), valid)

    def _common_width(self, widths: torch.Tensor) -> int:
        """The widest row's width: every input is unpacked to it (at least one column)."""
        return max(1, int(widths.max())) if widths.numel() > 0 else 1

    def _unpacked(self, flat: torch.Tensor, widths: torch.Tensor, width: int, fill: int) -> torch.Tensor:
        """Rows of `widths` elements, one after another in `flat` → int64 [rows, width], `fill` past each row's end."""
        flat = flat.reshape(-1).long()
        columns = torch.arange(width, device=flat.device)
        inside = columns.unsqueeze(0) < widths.unsqueeze(1)
        if flat.numel() == 0:
            return torch.full(inside.shape, fill, dtype=torch.long, device=flat.device)
        starts = torch.cumsum(widths, 0) - widths
        index = (starts.unsqueeze(1) + columns.unsqueeze(0)).clamp(0, flat.numel() - 1)
        return flat[index].masked_fill(~inside, fill)

    def _valid(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Per row, whether the classifier can take it: its ids in the vocabulary, its tokens within the maximum length."""
        in_vocabulary = ((input_ids >= 0) & (input_ids < self.vocab_size)).all(dim=1)
        return in_vocabulary & (self._extents(attention_mask) <= self.max_length)

    def _admitted(self, tensor: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """`tensor` with each refused row replaced by zeros, which every classifier takes."""
        return torch.where(valid.unsqueeze(1), tensor, torch.zeros_like(tensor))

    def _admitted_mask(self, attention_mask: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The mask, a refused row's reduced to its first token."""
        one_token = (torch.arange(attention_mask.size(1), device=attention_mask.device) == 0).to(attention_mask.dtype)
        return torch.where(valid.unsqueeze(1), attention_mask, one_token.expand_as(attention_mask))

    def _refused_as_nan(self, logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return torch.where(valid.unsqueeze(1), logits, torch.full_like(logits, float("nan")))

    def _groups(self, attention_mask: torch.Tensor) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, int]]]:
        """The rows sorted longest first, cut into sub-batches under the device's token budget:
        the sort order and, per sub-batch, its row indices and its width."""
        rows = attention_mask.size(0)
        sorted_extents, order = torch.sort(self._extents(attention_mask), descending=True, stable=True)
        longest_first: List[int] = sorted_extents.tolist()
        budget = self.cpu_token_budget if attention_mask.device.type == "cpu" else self.gpu_token_budget
        groups: List[Tuple[torch.Tensor, int]] = []
        start = 0
        while start < rows:
            width = longest_first[start]
            stop = min(rows, start + max(1, budget // width))
            groups.append((order[start:stop], width))
            start = stop
        return order, groups

    def _in_request_order(self, parts: List[torch.Tensor], order: torch.Tensor) -> torch.Tensor:
        return torch.cat(parts).index_select(0, torch.argsort(order))

    def _extents(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Per row, one past the last attended position (at least 1): the columns the row needs.

        Right-padded rows need their length; a row padded some other way keeps every column up
        to its last attended token. Only columns that no row of the sub-batch attends to are cut,
        so the logits are those of the input as sent, whatever padding a client chose.
        """
        positions = torch.arange(1, attention_mask.size(1) + 1, device=attention_mask.device)
        return ((attention_mask != 0).to(positions.dtype) * positions).amax(dim=1).clamp(min=1)


class LengthGroupedPairClassifier(LengthGroupedClassifier):
    """The same for models that take token type ids: (input_ids, attention_mask, token_type_ids) → logits,
    with the three inputs' BATCH_ITEM_SHAPEs after them."""

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        ids_shape: torch.Tensor,
        mask_shape: torch.Tensor,
        types_shape: torch.Tensor,
    ) -> torch.Tensor:
        widths = ids_shape[:, 0].long()
        width = self._common_width(widths)
        input_ids = self._unpacked(input_ids, widths, width, self.pad_id)
        attention_mask = self._unpacked(attention_mask, mask_shape[:, 0].long(), width, 0)
        token_type_ids = self._unpacked(token_type_ids, types_shape[:, 0].long(), width, 0)
        valid = (mask_shape[:, 0].long() == widths) & (types_shape[:, 0].long() == widths) & (widths > 0)
        valid = valid & self._valid(input_ids, attention_mask)
        valid = valid & ((token_type_ids >= 0) & (token_type_ids < self.type_vocab_size)).all(dim=1)
        token_type_ids = self._admitted(token_type_ids, valid)
        input_ids, attention_mask = self._admitted(input_ids, valid), self._admitted_mask(attention_mask, valid)
        order, groups = self._groups(attention_mask)
        parts: List[torch.Tensor] = []
        for members, group_width in groups:
            ids, mask = input_ids.index_select(0, members), attention_mask.index_select(0, members)
            types = token_type_ids.index_select(0, members)
            parts.append(
                self.classifier(ids[:, :group_width].contiguous(), mask[:, :group_width].contiguous(), types[:, :group_width].contiguous())
            )
        return self._refused_as_nan(self._in_request_order(parts, order), valid)


def ragged_batch(requests: List[Tuple[torch.Tensor, ...]]) -> Tuple[torch.Tensor, ...]:
    """Requests of [rows, width] token tensors → model.pt's inputs, as Triton's pytorch backend makes them
    from a batch of those requests: each input's tensors flattened and concatenated, then each input's
    BATCH_ITEM_SHAPE (int32 [rows of all requests, 1], every row's width)."""
    inputs = list(zip(*requests))
    flat = [torch.cat([tensor.reshape(-1) for tensor in tensors]) for tensors in inputs]
    shapes = [
        torch.cat([torch.full((tensor.size(0), 1), tensor.size(1), dtype=torch.int32) for tensor in tensors]) for tensors in inputs
    ]
    return (*flat, *shapes)


def ragged(*tensors: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """One request's [rows, width] token tensors → model.pt's inputs (see ragged_batch)."""
    return ragged_batch([tensors])


def script(
    classifier: torch.jit.ScriptModule,
    cpu_token_budget: int,
    gpu_token_budget: int,
    token_types: bool = False,
    limits: InputLimits = InputLimits(),
    pad_id: int = 0,
) -> torch.jit.ScriptModule:
    """The traced classifier wrapped and scripted: one TorchScript file, loadable without this code.
    With `token_types`, the classifier (and the module) takes token type ids as a third input; rows
    past `limits` get NaN logits; `pad_id` pads rows to the width of the widest in the batch."""
    wrapper = LengthGroupedPairClassifier if token_types else LengthGroupedClassifier
    return torch.jit.script(wrapper(classifier, cpu_token_budget, gpu_token_budget, limits, pad_id))


def timing_batch(pad_id: int, vocab_size: int, longest: int, rows: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of `rows` texts whose lengths spread geometrically from 8 tokens to `longest`, in
    scrambled order and right-padded to `longest`, as one request of them is sent.

    Rows at least as long as a budget run alone under every smaller budget, so lengths past a few
    hundred tokens would only blur the comparison. Token values do not change a dense encoder's
    cost; only the shapes do.
    """
    generator = torch.Generator().manual_seed(0)
    shortest = min(8, longest)
    lengths = torch.logspace(
        torch.log10(torch.tensor(float(shortest))), torch.log10(torch.tensor(float(longest))), rows
    ).round().long()
    lengths = lengths[torch.randperm(rows, generator=generator)]
    ids = torch.randint(min(pad_id + 1, vocab_size - 1), vocab_size, (rows, longest), generator=generator)
    mask = (torch.arange(longest).unsqueeze(0) < lengths.unsqueeze(1)).long()
    return torch.where(mask.bool(), ids, torch.full_like(ids, pad_id)), mask


@contextmanager
def as_served(parameters: dict[str, str]):
    """TorchScript run as Triton's pytorch backend runs it under a classifier config's `parameters`
    (src/libtorch.cc, r24.10): inference mode and graph optimisation unless INFERENCE_MODE or
    DISABLE_OPTIMIZED_EXECUTION say otherwise, the JIT's executor and profiling modes where set.
    The modes are process-wide in torch: restored on leaving."""

    def flag(key: str) -> bool | None:
        value = parameters.get(key, "").strip().lower()
        return None if value == "" else value == "true"

    setters = {"ENABLE_JIT_EXECUTOR": torch._C._jit_set_profiling_executor, "ENABLE_JIT_PROFILING": torch._C._jit_set_profiling_mode}
    previous = {key: setter(flag(key)) for key, setter in setters.items() if flag(key) is not None}
    try:
        with torch.inference_mode(flag("INFERENCE_MODE") is not False), torch.no_grad():
            with torch.jit.optimized_execution(flag("DISABLE_OPTIMIZED_EXECUTION") is not True):
                yield
    finally:
        for key, value in previous.items():
            setters[key](value)


def measure_cpu_budget(
    classifier: torch.jit.ScriptModule, batch: tuple[torch.Tensor, ...], parameters: dict[str, str], rounds: int = 3
) -> tuple[int, dict[int, float]]:
    """The candidate budget that runs `batch` fastest on this CPU, as the backend runs it under the
    config's `parameters`, and the median seconds of each.

    Candidates take turns within each round, so a slow moment of a shared machine hits them alike.
    """
    token_types, rows = len(batch) == 3, batch[0].shape[0]
    batch = ragged(*batch)
    grouped = {budget: script(classifier, budget, DEFAULT_GPU_TOKEN_BUDGET, token_types) for budget in CANDIDATE_BUDGETS}
    timings: dict[int, list[float]] = {budget: [] for budget in CANDIDATE_BUDGETS}
    with as_served(parameters):
        for module in grouped.values():
            module(*batch)  # warm-up
        for _ in range(rounds):
            for budget, module in grouped.items():
                started = time.perf_counter()
                module(*batch)
                timings[budget].append(time.perf_counter() - started)
    seconds = {budget: statistics.median(times) for budget, times in timings.items()}
    for budget, median in seconds.items():
        log.info("  token budget %5d: %.3f s per batch of %d", budget, median, rows)
    return min(seconds, key=seconds.get), seconds
