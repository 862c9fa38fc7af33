"""Scaling out on Lightning's own strategies: what decaqa adds to them.

DDP, FSDP and DeepSpeed are Lightning's (``trainer.strategy``); decaqa's part is to stay
correct on many processes: each rank draws its own stream of training batches
(`decaqa.sampling`), answers its own share of the validation set, which is gathered and scored
once (`decaqa.data`, `decaqa.model`), logs the gathered scores on every rank, sums the realised
mixture over the ranks and exports whole weights however they are sharded (`decaqa.run`).

This module holds what Lightning leaves to us: leaving the process group before the
interpreter ends (`leave_process_group`), and the one thing a config cannot say by itself,
FSDP's wrapping policy. FSDP shards a model unit by unit, and the unit for a seq2seq
transformer is its block (a T5 block, a BART encoder or decoder layer). `FSDP` is Lightning's
`FSDPStrategy` with that policy by class name, so a YAML config names it without Python:

    trainer:
      strategy:
        class_path: decaqa.distributed.FSDP
        init_args: {sharding_strategy: FULL_SHARD}
"""
from __future__ import annotations

from typing import Any, Sequence

from pytorch_lightning.strategies import FSDPStrategy
from torch import nn

# the block class of each architecture decaqa trains (transformers' names)
BLOCKS = ("T5Block", "MT5Block", "BartEncoderLayer", "BartDecoderLayer",
          "MBartEncoderLayer", "MBartDecoderLayer", "PegasusEncoderLayer",
          "PegasusDecoderLayer", "MarianEncoderLayer", "MarianDecoderLayer")


def leave_process_group() -> None:
    """Destroy torch.distributed's process group, if this process is in one.

    Every `decaqa` command calls it before returning, on every rank. Lightning destroys the
    group at exit only for NCCL; a Gloo group (DDP on CPU) was left to the interpreter's
    finalization, where Gloo's threads can still hold work whose tensors need the GIL. That
    aborts the process (SIGABRT). A rank other than zero, which returns from ``fit`` while
    rank zero still writes the run's files, ended that way now and then (twice in some dozens
    of DDP test runs). PyTorch's documentation asks for this call at the end of every
    distributed program.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class BlockPolicy:
    """FSDP's auto-wrap policy as a callable: wrap every module whose class is one of
    ``blocks`` (by name, so no architecture needs importing to name it)."""

    def __init__(self, blocks: Sequence[str] = BLOCKS):
        self.blocks = frozenset(blocks)

    def __call__(self, module: nn.Module, recurse: bool, nonwrapped_numel: int) -> bool:
        return recurse or type(module).__name__ in self.blocks


class FSDP(FSDPStrategy):
    """Lightning's FSDP with each transformer block its own shard unit; the checkpoint holds
    whole weights (``state_dict_type: full``) unless told otherwise, so `decaqa evaluate`,
    `decaqa.load` and a resume read it like any other.

    Args:
        blocks: the class names to wrap (default: the blocks of T5, mT5, BART, mBART,
            Pegasus and Marian).
        activation_checkpointing: recompute each block's activations in the backward pass
            (less memory, about a third more compute).
        **kwargs: anything `FSDPStrategy` takes (sharding_strategy, cpu_offload, ...).
    """

    def __init__(self, blocks: list[str] | None = None, activation_checkpointing: bool = False,
                 **kwargs: Any):
        policy = BlockPolicy(blocks or BLOCKS)
        kwargs.setdefault("state_dict_type", "full")
        if activation_checkpointing:
            kwargs["activation_checkpointing_policy"] = policy
        super().__init__(auto_wrap_policy=policy, **kwargs)
