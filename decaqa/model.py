"""The LightningModule: one seq2seq model for every task, trained and validated by Lightning.

The system (this module) is kept apart from the network (any `AutoModelForSeq2SeqLM`): the
network is a hub name or local path, or a T5 built from a config for training from scratch.
It knows nothing of data sets: batches arrive as tensors plus, for validation, the ids,
answers and metric names that scoring needs.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

import pytorch_lightning as pl
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from decaqa import store
from decaqa.adapters import Adapters, AdapterSettings
from decaqa.answer import CHOICE_MODES, answer, routed
from decaqa.copying import check_mode as check_copy_mode
from decaqa.errors import ConfigError
from decaqa.network import NetworkSettings, build_network, compile_network, load_weights
from decaqa.results import score_predictions
from decaqa.tokenizer import build_tokenizer

SCHEDULES = ("linear", "cosine", "constant")


class Seq2SeqQA(pl.LightningModule):
    """Multitask question answering with one encoder-decoder.

    Args:
        model: hub name or local folder of a pretrained seq2seq model (T5, BART, mT5, ...);
            leave empty to build one from ``config``.
        config: fields of a model config for training from scratch: ``model_type`` (t5 by
            default, or bart, pegasus, ...) and that type's fields (vocab size and special-token
            ids come from the tokenizer).
        tokenizer: hub name, folder or tokenizer.json; default: the model's own, or for a model
            from scratch a BPE trained on the run's training text.
        vocab_size: size of the tokenizer trained from scratch.
        split_digits: split numbers into single digits in that tokenizer (default: keep them
            whole, so a year or an age is one piece to copy).
        learning_rate: AdamW's learning rate, at its peak after warm-up.
        weight_decay: AdamW's weight decay (not on biases and norms).
        warmup_steps: linear warm-up steps.
        schedule: after warm-up, ``linear`` or ``cosine`` decay to 0 over the run, or
            ``constant``.
        max_new_tokens: the answer cap at validation and answering for a task whose data
            gives no cap of its own.
        num_beams: beams when generating (1: greedy).
        task_beams: tasks answered with beams of their own, ``{task: beams}`` (the others with
            ``num_beams``); the quickstart gives iwslt and cnn_dailymail four, as T5 does for
            translation and summaries (docs/asking.md#beams).
        choices: how tasks with answer choices are answered at validation: ``generate``, or
            ``rank`` / ``rank_mean`` (the likeliest choice, by summed or per-token
            log-likelihood), which always gives a valid label.
        copy: the pointer-generator head (`decaqa.copying`): ``context`` (copy from the
            context), ``context+question`` (the question too, with its own gate) or None
            (off: a plain transformers model). For t5 and bart, from scratch or pretrained.
        trust_remote_code: let a hub model or folder run code of its own (its config's
            auto_map); off unless set here, as that code runs with your rights.
        adapter: train adapters over the frozen ``model`` instead of the model itself
            (`decaqa.adapters`): ``{method: lora | ia3 | prefix | prompt | ln_tuning | bitfit
            | houlsby | adapterbias, mode: per_task | shared | routed, ...}``. Checkpoints and
            the export (``adapters/``) hold the adapters alone.
        compile: compile the network with torch.compile (dynamic shapes), falling back to
            eager with one line where it does not work; off by default, as on a 2-core CPU
            it costs more than it wins (``benchmarks/kernel_choice.py``).
    """

    def __init__(self, model: str | None = None, config: dict[str, Any] | None = None,
                 tokenizer: str | None = None, vocab_size: int = 4000,
                 split_digits: bool = False,
                 learning_rate: float = 1e-3, weight_decay: float = 0.01,
                 warmup_steps: int = 100, schedule: str = "linear",
                 max_new_tokens: int = store.MAX_NEW_TOKENS, num_beams: int = store.NUM_BEAMS,
                 task_beams: dict[str, int] | None = None, choices: str = "generate",
                 copy: str | None = None, trust_remote_code: bool = False,
                 adapter: dict[str, Any] | None = None, compile: bool = False):
        super().__init__()
        if not model and not config:
            raise ConfigError("The model needs either `model` (a hub name or local folder) or "
                              "`config` (fields of a model config, t5 by default, to train from "
                              "scratch).")
        if schedule not in SCHEDULES:
            raise ConfigError(f"Unknown schedule '{schedule}'; use one of {', '.join(SCHEDULES)}.")
        check_copy_mode(copy)
        if AdapterSettings.of(adapter) is not None and not model:
            raise ConfigError("Adapters train over a frozen pretrained base: set model.model to "
                              "a hub name or a model folder (runs/<name>/model).")
        widths = {"model.num_beams": num_beams,
                  **{f"model.task_beams.{t}": b for t, b in (task_beams or {}).items()}}
        store.check_beams(widths)
        if (settings := AdapterSettings.of(adapter)) is not None:
            settings.check_beams(widths)  # a routed adapter answers greedily
        if choices not in CHOICE_MODES:
            raise ConfigError(f"Unknown choices mode '{choices}'; use one of "
                              f"{', '.join(CHOICE_MODES)}.")
        self.save_hyperparameters()
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.model: PreTrainedModel | None = None
        # per task: (position, id, prediction, answers, meta, question, context) rows
        self._outputs: dict[str, list[tuple]] = defaultdict(list)
        self._task_metrics: dict[str, list[str]] = {}
        self.info: dict[str, Any] = {}  # what answering needs, saved with every checkpoint
        self.total_steps = 0  # the LR schedule's length (set by configure_optimizers)
        self.results: dict[str, Any] | None = None
        self.predictions: list[dict[str, Any]] = []
        self.adapters: Adapters | None = None  # set by configure_model when adapting
        self.strict_loading = AdapterSettings.of(adapter) is None  # a checkpoint: adapters only

    # -- building --------------------------------------------------------------------------
    def build_tokenizer(self, texts: Callable[[], Iterable[str]]) -> PreTrainedTokenizerBase:
        """This model's tokenizer as its settings name it (the run calls this once)."""
        hp = self.hparams
        return build_tokenizer(hp.model, hp.tokenizer, hp.vocab_size, hp.split_digits, texts,
                               bool(hp.get("trust_remote_code")))

    def connect(self, tokenizer: PreTrainedTokenizerBase,
                info: dict[str, Any] | None = None) -> None:
        """Hand the model the run's tokenizer and the facts answering needs (input format,
        length limits, per-task caps): the litgpt order, tokenizer first."""
        self.tokenizer = tokenizer
        self.info = dict(info or {})

    def configure_model(self) -> None:
        """Build or load the network once the tokenizer is known (Lightning calls this)."""
        if self.model is not None:
            return
        if self.tokenizer is None:
            raise ConfigError("The model has no tokenizer yet; run it with `decaqa fit` or call "
                              "connect(tokenizer) first.")
        settings = AdapterSettings.of(self.hparams.get("adapter"))
        if settings is not None:
            self.adapters = Adapters(settings, list(self.info.get("tasks", {})))
        self.model = build_network(self.network_settings(), self.tokenizer, self.adapters)
        if self.hparams.get("compile"):
            # off by default: on a 2-core CPU it loses (benchmarks/kernel_choice.py)
            compile_network(self.model)

    def network_settings(self) -> NetworkSettings:
        """The network this module trains, as its settings and the run's input format say."""
        return NetworkSettings.of(self.hparams, self.info.get("input_format"))

    # -- training --------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        with routed(self.adapters, self.model, batch.get("task", [])) as extra:  # its adapters
            out = self.model(input_ids=batch["input_ids"],
                             attention_mask=batch["attention_mask"], labels=batch["labels"],
                             **extra)
        size = batch["input_ids"].size(0)
        self.log("train/loss", out.loss, prog_bar=True, batch_size=size)
        tasks = set(batch.get("task", []))
        if len(tasks) == 1:  # the sampler's batches hold one task: a per-task loss curve
            self.log(f"train/{tasks.pop()}/loss", out.loss, batch_size=size)
        return out.loss

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        trained = [(name, p) for name, p in self.model.named_parameters()
                   if self.adapters is None or name in self.adapters.keys]  # not a frozen base
        opt = adamw(parameter_groups(trained, hp.weight_decay), hp.learning_rate,
                    fused_allowed(str(self.trainer.precision), self.trainer.gradient_clip_val))
        self.total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        # the schedule reads total_steps at every step: a time budget that re-sizes the run
        # during warm-up moves the decay with it instead of cutting it short
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: lr_factor(step, hp.warmup_steps, self.total_steps, hp.schedule))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer: Any, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Lightning's clipping, except for a fused optimizer under bf16-mixed: Lightning's
        mixed-precision plugin refuses to clip for any optimizer that unscales inside its
        step, which only fp16's gradient scaler needs; bf16 has no scaler, its gradients are
        the true ones, so they are clipped here, and the fused AdamW step stays (`adamw`)."""
        inner = getattr(optimizer, "optimizer", optimizer)
        if (gradient_clip_val and getattr(inner, "_step_supports_amp_scaling", False)
                and str(self.trainer.precision) == "bf16-mixed"):
            params = [p for group in inner.param_groups for p in group["params"]]
            if gradient_clip_algorithm == "value":
                torch.nn.utils.clip_grad_value_(params, gradient_clip_val)
            else:
                torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val,
                                            gradient_clip_algorithm)

    # -- validation ------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._outputs.clear()

    def answer(self, sources: list[list[int]], answering: dict[str, Any]) -> list[str]:
        """Answers for one validation chunk, through the one batched answering path.

        ``answering`` comes with the chunk from the data: the task's metrics, its generation
        cap, its answer choices and the batch limits. Lightning's precision plugin has set
        the autocast already (on a CPU the answering path sets it aside: float32).
        """
        task, n = answering.get("task"), len(sources)
        cap = answering.get("max_new_tokens")
        return answer(self.model, self.tokenizer, sources, [task] * n,
                      caps={task: cap} if cap else None,
                      default_cap=self.hparams.max_new_tokens, num_beams=self.hparams.num_beams,
                      beams=self.hparams.get("task_beams"),
                      choices=[answering.get("choices")] * n, mode=self.hparams.choices,
                      max_rows=answering["max_rows"], max_tokens=answering.get("max_tokens"),
                      adapters=self.adapters)

    def validation_step(self, batch: dict[str, Any], batch_idx: int,
                        dataloader_idx: int = 0) -> None:
        task = batch["answering"]["task"]
        self._task_metrics[task] = batch["answering"]["metrics"]
        if not batch["sources"]:  # an empty chunk: this rank's share was smaller
            return
        preds = self.answer(batch["sources"], batch["answering"])
        blank = [None] * len(preds)
        self._outputs[task].extend(zip(batch["position"], batch["id"], preds, batch["answers"],
                                       batch["meta"], batch.get("question") or blank,
                                       batch.get("context") or blank))

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self.validation_step(batch, batch_idx, dataloader_idx)

    def on_test_epoch_start(self) -> None:
        self.on_validation_epoch_start()

    def on_validation_epoch_end(self) -> None:
        self._score_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._score_epoch("test")

    def _score_epoch(self, prefix: str) -> None:
        """Score every task, log ``{prefix}/<task>/<metric>`` and ``{prefix}/decascore``."""
        gathered = gather_outputs(dict(self._outputs))
        outputs = {t: gathered[t] for t in self._task_metrics if t in gathered}  # data order
        self.predictions = [{"id": i, "task": task, "question": q, "context": c,
                             "prediction": p, "answers": r, "meta": json.loads(m)}
                            for task, rows in outputs.items() for _, i, p, r, m, q, c in rows]
        results = score_predictions(self.predictions, self._task_metrics.__getitem__)
        # every rank holds the gathered results: each logs them (a value logged on rank zero
        # only, which ModelCheckpoint monitors, deadlocks a distributed run)
        for task, row in results["tasks"].items():
            for m, s in row["scores"].items():
                self.log(f"{prefix}/{task}/{m}", s, sync_dist=False)
        self.log(f"{prefix}/decascore", results["decascore"], prog_bar=True, sync_dist=False)
        self.results = {**results, "step": int(self.global_step)}

    # -- saving ----------------------------------------------------------------------------
    def answer_info(self, **extra: Any) -> store.ExportInfo:
        """What answering needs beside the weights: the run's facts, precision and decoding
        (``extra``: more of decaqa.json's fields, such as the version)."""
        fields = dict(self.info, **extra)
        if self._trainer is not None:
            fields["precision"] = str(self.trainer.precision)  # ask decodes as validation did
        fields["generation"] = store.generation_of(self.hparams)
        return store.ExportInfo.from_dict(fields)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the tokenizer and the answering facts in the checkpoint (it is evaluated and
        resumed on its own, with no tokenizer rebuilt), the adapters' weights alone when the
        run trains adapters, and every rank's random state (dropout draws differ by rank:
        their batches differ)."""
        states = [rng_states()]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            states = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(states, rng_states())
        adapter_state = (self.adapters.state(self.model, prefix="model.")
                         if self.adapters is not None else None)
        store.fill_checkpoint(checkpoint, self.tokenizer, self.answer_info(), self.adapters,
                              adapter_state, states)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A resumed run draws the random numbers (dropout) the uninterrupted run would have:
        each rank's generators are restored as they were when the checkpoint was taken."""
        rank = self._trainer.global_rank if self._trainer is not None else 0
        state = store.checkpoint_rng(checkpoint, rank)
        if state is not None:
            set_rng_states(state)

    def parameter_counts(self) -> dict[str, int]:
        """Parameters trained and in the base: with adapters, all the adapters' (every task's)
        beside the frozen base; without, the whole model trains."""
        if self.adapters is not None:
            counts = self.adapters.counts(self.model)
            return {"trainable": counts["adapter_params"], "base": counts["base_params"],
                    "per_adapter": counts["per_adapter_params"]}
        total = sum(p.numel() for p in self.model.parameters())
        return {"trainable": total, "base": total}

    @property
    def export_name(self) -> str:
        """The folder a run's export goes to: ``model`` (a whole HF model) or ``adapters``."""
        return "model" if self.adapters is None else "adapters"

    def export(self, folder: str | Path, state: dict[str, torch.Tensor] | None = None,
               fresh: bool = False, **extra: Any) -> Path:
        """Write the run's export (`decaqa.store.write_export`): a HuggingFace-format model
        plus decaqa.json, or with adapters the adapters alone and the base they need.

        ``state``: the weights to export (this module's state dict: the best checkpoint's, or
        the whole weights gathered from the ranks); ``fresh``: load them into a new network
        rather than this one, whose parameters a sharding strategy (FSDP, DeepSpeed) holds;
        ``extra``: more of decaqa.json's fields.
        """
        net = self.model
        if state is not None:
            if fresh:
                net = build_network(self.network_settings(), self.tokenizer, self.adapters)
            load_weights(net, state, self.adapters)
        return store.write_export(folder, net, self.tokenizer, self.answer_info(**extra),
                                  self.adapters, self.hparams.model)


def rng_states() -> dict[str, Any]:
    """torch's, numpy's and Python's global random states as plain data (lists and tensors,
    so a checkpoint holding them still loads with ``weights_only=True``)."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss = random.getstate()
    out = {"torch": torch.get_rng_state(),
           "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
           "python": [version, list(state), gauss]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_states(states: dict[str, Any]) -> None:
    """Put back what `rng_states` took."""
    import random

    import numpy as np

    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, state, gauss = states["python"]
    random.setstate((version, tuple(state), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def parameter_groups(named: Iterable[tuple[str, torch.nn.Parameter]], weight_decay: float
                     ) -> list[dict[str, Any]]:
    """AdamW's two groups: ``weight_decay`` on the matrices, none on biases and norms."""
    decay, no_decay = [], []
    for name, p in named:
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def fused_allowed(precision: str, gradient_clip_val: float | None) -> bool:
    """Whether the fused AdamW kernel may be used: not in a 16-mixed run that clips (the
    gradient scaler's gradients must be unscaled before clipping, and a fused step unscales
    inside itself); bf16-mixed clips in `Seq2SeqQA.configure_gradient_clipping`."""
    return not (gradient_clip_val and precision == "16-mixed")


def adamw(params: Any, lr: float, fused: bool = True) -> torch.optim.AdamW:
    """AdamW, with the fused kernel where allowed and available: one call per tensor instead
    of ten (9% of a CPU step on the quickstart)."""
    if fused:
        try:
            return torch.optim.AdamW(params, lr=lr, fused=True)
        except (RuntimeError, ValueError):
            pass
    return torch.optim.AdamW(params, lr=lr)


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Linear warm-up, then linear or cosine decay to zero (or constant)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 1.0 - progress if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * progress))


def gather_outputs(outputs: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """Every rank's answers, each example once, in the order of the split.

    A row starts with the example's position in its task's split: rows are merged by it
    (so an example answered twice would count once; the data module deals each to one rank)
    and sorted by it, so the predictions come out alike on any number of processes.
    """
    parts = [outputs]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        parts = [{} for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather_object(parts, outputs)
    merged: dict[str, dict[int, tuple]] = defaultdict(dict)
    for part in parts:
        for task, rows in part.items():
            for row in rows:
                merged[task].setdefault(int(row[0]), row)
    return {task: [rows[k] for k in sorted(rows)] for task, rows in merged.items()}
