"""Quiet output (decaqa.quiet): `decaqa ask` and `decaqa evaluate` print decaqa's own lines,
and none of the third-party warnings and tips the module silences."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

from conftest import SMOKE
from decaqa import quiet

NOISE = ("Warning", "warnings.warn", "Tip:", "litlogger", "LeafSpec", "is_gradient_checkpointing",
         "in eval mode", "Loading weights", "Writing model shards")


def decaqa_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "decaqa.cli", *args], capture_output=True,
                          text=True, check=True)


def test_fit_ask_and_evaluate_print_no_third_party_noise(smoke_run: Path, tmp_path: Path) -> None:
    """On a plain model and on LoRA adapters over it (peft reads the deprecated property, and
    Lightning finds the frozen base in eval mode)."""
    lora = tmp_path / "lora"
    fit = decaqa_cli("fit", "--config", str(SMOKE), "--run_dir", str(lora),
                     "--model.model", str(smoke_run / "model"), "--model.config", "null",
                     "--model.adapter", '{"method": "lora"}', "--data.tasks", '["sst2", "squad"]',
                     "--trainer.max_steps", "2", "--trainer.val_check_interval", "2",
                     "--data.val_limit", "2", "--trainer.enable_progress_bar", "false")
    runs = [fit]
    for model, task in ((smoke_run / "model", []), (lora / "adapters", ["--task", "sst2"])):
        runs.append(decaqa_cli("ask", "--model", str(model), "--question", "Who?",
                               "--context", "Ana.", *task))
        runs.append(decaqa_cli("evaluate", "--model", str(model), "--tasks", "sst2,squad",
                               "--limit", "4", "--output", str(tmp_path / "e.json")))
    for done in runs:
        text = done.stdout + done.stderr
        assert not [n for n in NOISE if n in text], text[-3000:]
        assert "Traceback" not in text
    assert "decaScore" in runs[-1].stdout                # and decaqa's own table still shows


def test_each_known_warning_is_silenced_and_others_are_not() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet.quiet()
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.",
                      FutureWarning)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
        warnings.warn("Found 108 module(s) in eval mode at the start of training. This may ...",
                      UserWarning)
        warnings.warn("something a user should see", UserWarning)
    assert [str(w.message) for w in seen] == ["something a user should see"]
