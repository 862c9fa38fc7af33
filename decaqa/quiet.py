"""Third-party output a decaqa user cannot act on, silenced in one place.

What remains on the screen is decaqa's own progress, tables and real warnings. Each rule says
why what it hides is harmless; anything else a library says still shows.

* transformers' ``FutureWarning`` that ``is_gradient_checkpointing`` is deprecated: raised
  inside transformers (and peft) when they read their own deprecated property; decaqa never
  calls it, and nothing changes for a user until transformers removes it itself.
* torch's ``FutureWarning`` that ``isinstance(treespec, LeafSpec)`` is deprecated: raised from
  Lightning's ``utilities/_pytree.py`` on every run; Lightning's to fix, not the user's.
* Lightning's "Found N module(s) in eval mode at the start of training": an adapter run keeps
  its frozen base in eval mode on purpose (no dropout in a base that does not train).
* Lightning's "💡 Tip: ... try installing litlogger": an advertisement, not a finding.
* Lightning's "You're resuming from a checkpoint that ended before the epoch ended and your
  dataloader is not resumable": a resumed run starts its loader where the checkpoint was
  taken (the data module's state, `decaqa.data`), which Lightning cannot see.
* peft's "Unsupported layer type ... T5LayerNorm ... proceed at your own risk": peft asks
  every target layer its in and out features, which a layer norm does not have; LN tuning
  never uses them (its layers train and answer: `tests/test_adapters.py`).
* transformers' "Loading weights" / "Writing model shards" progress bars for a model already
  on disk (a few milliseconds; `transformer_bars`).

Neither the warnings nor the logging filters import anything, so ``decaqa tasks`` stays fast.
"""
from __future__ import annotations

import logging
import warnings

WARNINGS = (  # (category, message regex): see the module docstring for why each is harmless
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
    (Warning, r"Found \d+ module\(s\) in eval mode at the start of training"),
    (Warning, r"You're resuming from a checkpoint that ended before"),
    (UserWarning, r"Unsupported layer type '<class '[\w.]+T5LayerNorm'>' encountered"),
)
LOG_LINES = ("try installing [litlogger]",)
LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                     "lightning.pytorch.utilities.rank_zero")


class _DropKnownLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(line in text for line in LOG_LINES)


_INSTALLED: list[bool] = []


def quiet() -> None:
    """Install the filters (the logging ones once; the warnings ones again on every call, as
    a caller such as pytest may have reset the warnings filters since)."""
    for category, message in WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    if _INSTALLED:
        return
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).addFilter(_DropKnownLines())
    _INSTALLED.append(True)


def transformer_bars() -> None:
    """No transformers progress bar for loading or writing a model on disk (call where
    transformers is imported anyway)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
