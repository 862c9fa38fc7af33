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
    monkeypatch.setattr("decaqa.tokenizer.load_tokenizer", lambda name, trust=False: tok)
    monkeypatch.setattr("decaqa.network.load_pretrained",
                        lambda name, copy=None, trust=False: build_from_config(
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


# -- scaling out: overlays of configs/scale --------------------------------------------------------
SCALE = sorted((CONFIGS / "scale").glob("*.yaml"))


@pytest.mark.parametrize("overlay", SCALE, ids=[p.stem for p in SCALE])
def test_scale_overlays_name_real_trainer_settings(overlay: Path) -> None:
    """Each overlay's keys are Trainer arguments (or the run's own), its strategy is one
    Lightning knows or a Strategy class that imports; on the dev machine they cannot run
    (no GPU), so they are checked key by key."""
    import importlib
    import inspect

    import pytorch_lightning as pl
    import yaml

    doc = yaml.safe_load(overlay.read_text())
    assert set(doc) <= {"trainer", "model", "data", "checkpoint_every_n_steps"}
    trainer_args = set(inspect.signature(pl.Trainer).parameters)
    assert set(doc["trainer"]) <= trainer_args, set(doc["trainer"]) - trainer_args
    strategy = doc["trainer"]["strategy"]
    if isinstance(strategy, dict):
        module, _, name = strategy["class_path"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, pl.strategies.Strategy)
        cls(**strategy.get("init_args", {}))               # its settings are its arguments
    else:
        assert strategy in pl.strategies.StrategyRegistry


def test_the_fsdp_policy_wraps_each_transformer_block(tmp_path: Path) -> None:
    from decaqa.distributed import BlockPolicy

    tok = train_tokenizer(["question: context: a b c d e f g"] * 10, 200)
    policy = BlockPolicy()
    for config, blocks in (({"d_model": 32, "d_ff": 64, "num_layers": 2, "num_heads": 2,
                             "d_kv": 16}, 4),
                           ({"model_type": "bart", "d_model": 32, "encoder_layers": 2,
                             "decoder_layers": 1, "encoder_attention_heads": 2,
                             "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
                             "decoder_ffn_dim": 64, "max_position_embeddings": 64}, 3)):
        model = build_from_config(config, tok)
        wrapped = [m for m in model.modules() if policy(m, recurse=False, nonwrapped_numel=0)]
        assert len(wrapped) == blocks
        assert policy(model, recurse=True, nonwrapped_numel=0)   # descends everywhere
