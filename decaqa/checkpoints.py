"""Checkpoints a kill cannot break: written whole or not at all, often enough to lose
minutes, not days.

`LastCheckpoint` writes ``checkpoints/last.ckpt`` every N training steps and at each
validation: the point ``decaqa fit --ckpt_path last`` resumes from. (Lightning's
``ModelCheckpoint`` keeps the best one by decaScore beside it; given both a step trigger and a
validation trigger it saves "last" only when it also saved a best one, and two of them both
saving "last" write ``last-v1.ckpt``, so the resume point is this small callback of ours.)

Lightning's own writer opens the checkpoint file and writes into it, so a run killed (or a
disk that fills) part-way through a save leaves a truncated ``last.ckpt`` where a whole one
was, and the run cannot be resumed. `AtomicCheckpointIO` writes to a temporary file in the
same folder, flushes it to the disk, and only then renames it over the old one (a rename is
atomic on POSIX file systems): at any moment the checkpoint on disk is the previous whole one
or the new whole one. A disk that fills during the write ends in one sentence, with the
previous checkpoint untouched. Lightning has no atomic writer, so this small one is ours.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Checkpoint

from decaqa.errors import CheckpointError


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` that writes to a temporary file and renames it into place."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CheckpointError(
                    f"The disk filled while writing checkpoint {path}; the previous checkpoint "
                    "there is whole: free some space and resume with --ckpt_path last.") from err
            raise CheckpointError(f"Could not write checkpoint {path} ({err.strerror or err}); "
                                  "the previous checkpoint there is whole: fix the folder and "
                                  "resume with --ckpt_path last.") from err


class LastCheckpoint(Checkpoint):
    """Writes ``last.ckpt`` (atomically, through the trainer's checkpoint writer) every
    ``every_n_steps`` training steps and at the end of each validation.

    A `Checkpoint`, so Lightning runs it after every other callback, the best-checkpoint
    keeper included: what it saves holds their state after this step or validation."""

    def __init__(self, path: str | Path, every_n_steps: int):
        self.path = Path(path)
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            trainer.save_checkpoint(self.path, weights_only=False)

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        # also after a step that saved: this one holds the validation's results
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.path, weights_only=False)
