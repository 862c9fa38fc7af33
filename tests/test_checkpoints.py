"""Checkpoints a kill cannot break (decaqa.checkpoints): a disk that fills mid-write leaves the
previous checkpoint whole, and last.ckpt is written every N steps and at each validation."""
from __future__ import annotations

import errno
from pathlib import Path

import torch

from conftest import SMOKE
from decaqa.cli import run


def step_of(ckpt: Path) -> int:
    try:
        return int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"])
    except (OSError, RuntimeError, KeyError, EOFError):
        return -1


def test_a_disk_that_fills_during_a_checkpoint_write_keeps_the_previous_one(
        tmp_path: Path, capsys, monkeypatch) -> None:
    real_save = torch.save
    saves = {"n": 0}

    def filling_save(obj, f, *args, **kwargs):
        saves["n"] += 1
        if saves["n"] == 3:  # at step 15, the third: half written, then the disk is full
            f.write(b"\0" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", filling_save)
    run_dir = tmp_path / "full"
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir),
                "--trainer.max_steps", "30", "--checkpoint_every_n_steps", "5",
                "--trainer.val_check_interval", "30"]) == 2
    err = capsys.readouterr().err
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith("decaqa: The disk filled while writing checkpoint")
    assert last_line.endswith("resume with --ckpt_path last.") and "Traceback" not in err
    last = run_dir / "checkpoints" / "last.ckpt"
    assert step_of(last) == 10                              # the previous one, whole
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))  # no half file left behind


def test_checkpoints_are_written_every_n_steps_and_at_validation(tmp_path: Path) -> None:
    seen: list[int] = []
    import decaqa.checkpoints

    real = decaqa.checkpoints.AtomicCheckpointIO.save_checkpoint

    def spy(self, checkpoint, path, storage_options=None):
        seen.append((Path(path).name, int(checkpoint["global_step"])))
        return real(self, checkpoint, path, storage_options)

    decaqa.checkpoints.AtomicCheckpointIO.save_checkpoint = spy
    try:
        assert run(["fit", "--config", str(SMOKE), "--run_dir", str(tmp_path / "r"),
                    "--trainer.max_steps", "12", "--checkpoint_every_n_steps", "4",
                    "--trainer.val_check_interval", "6"]) == 0
    finally:
        decaqa.checkpoints.AtomicCheckpointIO.save_checkpoint = real
    periodic = sorted({s for name, s in seen if name == "last.ckpt"})
    assert {4, 8, 12} <= set(periodic) and {6} <= set(periodic)   # every 4, and validations
    assert ("best.ckpt", 6) in seen or ("best.ckpt", 12) in seen
