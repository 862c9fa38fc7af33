"""Every shipped config parses and builds; the GPU/hub ones with downloads stubbed by local files."""
from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from decaqa.data import MINI_DECATHLON_TASKS, TaskDataModule
from decaqa.model import Seq2SeqQA
from decaqa.network import build_from_config
from decaqa.run import DecaqaCLI
from decaqa.tasks import get_task
from decaqa.tokenizer import train_tokenizer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CPU = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.precision", "32"]


def build(config: Path, tmp_path: Path, *extra: str) -> DecaqaCLI:
    """LightningCLI over a config, classes instantiated, nothing run."""
    return DecaqaCLI(Seq2SeqQA, TaskDataModule, run=False,
                     args=["--config", str(config), "--run_dir", str(tmp_path), *CPU, *extra])


@pytest.mark.parametrize("name", ["quickstart", "smoke"])
def test_cpu_configs_build(name: str, tmp_path: Path) -> None:
    cli = build(CONFIGS / f"{name}.yaml", tmp_path)
    assert cli.datamodule.task_names == MINI_DECATHLON_TASKS
    assert cli.model.hparams.config["d_model"] > 0 and not cli.model.hparams.model
    assert cli.trainer.max_steps > 0


@pytest.mark.parametrize("size", ["small", "base"])
def test_decanlp_configs_build_with_stubbed_downloads(size: str, tmp_path: Path,
                                                      monkeypatch) -> None:
    calls: list[dict] = []
    by_hub = {get_task(n).hub_name: n for n in MINI_DECATHLON_TASKS}

    def fake_load_dataset(path, name=None, *, split, revision=None, data_dir=None, **kw):
        """The hub, stubbed: serve the mini decathlon's file for the task asked for."""
        if path in ("json", "csv", "parquet", "text"):
            return real_load_dataset(path, name, split=split, **kw)
        calls.append({"path": path, "name": name, "revision": revision,
                      "data_dir": data_dir, "split": split})
        task = get_task(by_hub[path])
        local = task.mini_decathlon_files("train")
        return real_load_dataset("json", data_files={"train": [str(local)]},
                                 split="train").select(range(16))

    real_load_dataset = datasets.load_dataset
    monkeypatch.setattr("decaqa.data.datasets.load_dataset", fake_load_dataset)
    tok = train_tokenizer(["question: context: a b c d e f g"] * 10, 200)
    monkeypatch.setattr("decaqa.tokenizer.load_tokenizer", lambda name: tok)
    monkeypatch.setattr("decaqa.network.load_pretrained",
                        lambda name, copy=None: build_from_config(
                            {"d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2,
                             "d_kv": 16}, tok))

    cli = build(CONFIGS / f"decanlp_t5_{size}.yaml", tmp_path,
                "--trainer.use_distributed_sampler", "false")
    module, data = cli.model, cli.datamodule
    assert module.hparams.model == f"google-t5/t5-{size}"
    assert data.source == "hub" and data.mixture.strategy == "temperature"
    assert "wsc" not in data.task_names and "wsc" in data.eval_task_names  # hub wsc: test only
    assert len(data.task_names) == 9 and len(data.eval_task_names) == 10

    assert data.tokenizer is tok and module.tokenizer is tok  # the run built it once, for both
    module.configure_model()
    batch = next(iter(data.train_dataloader()))
    loss = module.training_step(batch, 0)
    assert loss.item() > 0
    # script data sets are read from the hub's parquet export, the config as its folder
    iwslt = next(c for c in calls if c["path"] == get_task("iwslt").hub_name)
    assert iwslt["revision"] == "refs/convert/parquet" and iwslt["name"] is None
    assert iwslt["data_dir"] == get_task("iwslt").hub_config
    squad = next(c for c in calls if c["path"] == "rajpurkar/squad")
    assert squad["revision"] is None and squad["data_dir"] is None
    wsc = next(c for c in calls if c["path"] == get_task("wsc").hub_name)
    assert wsc["split"] == "test"  # validation of wsc reads the hub's test split
