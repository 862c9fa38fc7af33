"""Sample efficiency: what each optimiser setting learns in the same steps, and what a step
costs, side by side on the quickstart's model and batches.

A nine-minute quickstart run differs from the next by up to 15 points of decaScore, and the
machine's pace moves its step count by a third, so one run cannot tell a change to the
optimiser from the noise. This trains a copy of the quickstart's network (copy head on,
float32) per setting, on the same training batches in the same order, the settings taking
turns batch by batch (the order alternating, so a busy moment of the machine falls on each),
each with its own learning-rate schedule over its own steps (linear warm-up, then the
config's decay to zero). Then it scores each on the validation rows of every task,
teacher-forced: the mean loss per answer token, per task, and the mean over the tasks.

Settings (``--settings``, the first is the baseline the others are read against):
- ``run``: decaqa's optimiser as `decaqa fit` builds it (`decaqa.model.parameter_groups`,
  fused AdamW, the quickstart's learning rate, weight decay and warm-up);
- ``muon``: PyTorch's Muon (`torch.optim.Muon`, its RMS matched to AdamW's) on the weight
  matrices of the network's linear layers (36 in the quickstart's T5; not the output layer,
  which T5 ties to the embeddings), the run's AdamW on the rest (embeddings, norms, the
  position bias, the copy head); ``lr`` sets Muon's, the rest keep the run's.
Each takes ``key=value`` overrides after a colon: ``lr``, ``weight_decay``, ``warmup``,
``beta2``, ``clip`` (the gradient norm it clips to; the run's 1.0 unless told, 0: none),
``steps`` (its own number of steps) and, for muon, ``ns_steps``: e.g.
``run:lr=1e-3,beta2=0.95``, ``muon:lr=2e-3``, ``run:steps=2000``. A setting's mean ms per step
(optimiser included, after three warm-up steps) says what its steps cost: the one that
learns more per step only pays if it still does in the same time (``equal_time_steps``: how
many of the baseline's steps take the time of that setting's steps; add ``run:steps=N`` with
that N to see what the baseline learns in it).

    python benchmarks/sample_efficiency.py [--steps 1500] [--settings run muon:lr=2e-3 ...]

Ends with one JSON line: settings ({name: {steps, ms_per_step, equal_time_steps, heldout,
clipped (the share of its steps whose gradient norm was over its clip), tasks}}), baseline,
steps, machine.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from decaqa.data import collate
from decaqa.model import adamw, lr_factor, parameter_groups
from decaqa.provenance import describe_machine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_overhead import quickstart  # noqa: E402

KINDS = ("run", "muon")
KEYS = {"lr", "weight_decay", "warmup", "beta2", "steps", "ns_steps", "clip"}
WARM_UP = 3  # steps of each setting left out of its mean step time


def parse_setting(text: str, steps: int) -> dict[str, Any]:
    """``kind[:key=value,...]`` -> {name, kind, overrides..., steps}."""
    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise SystemExit(f"Unknown setting '{text}': start it with one of {', '.join(KINDS)}.")
    setting: dict[str, Any] = {"name": text, "kind": kind, "steps": steps}
    for part in filter(None, rest.split(",")):
        key, _, value = part.partition("=")
        if key not in KEYS or not value:
            raise SystemExit(f"Setting '{text}': '{part}' is not key=value with a key of "
                             f"{', '.join(sorted(KEYS))}.")
        setting[key] = int(value) if key in ("steps", "warmup", "ns_steps") else float(value)
    return setting


def hidden_matrices(net: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The weights of the network's linear layers, less the output layer (tied to the
    embeddings in T5): what Muon is meant for."""
    out = net.get_output_embeddings()
    skip = {id(out.weight)} if out is not None else set()
    return [m.weight for m in net.modules()
            if isinstance(m, torch.nn.Linear) and id(m.weight) not in skip]


def optimisers(setting: dict[str, Any], net: torch.nn.Module, hp: Any) -> list[Any]:
    """The setting's optimisers over ``net``, each with its learning-rate schedule."""
    lr = setting.get("lr", hp.learning_rate)
    decay = setting.get("weight_decay", hp.weight_decay)
    named = list(net.named_parameters())
    if setting["kind"] == "muon":
        hidden = {id(p) for p in hidden_matrices(net)}
        opts = [torch.optim.Muon([p for _, p in named if id(p) in hidden], lr=lr,
                                 weight_decay=decay, adjust_lr_fn="match_rms_adamw",
                                 ns_steps=setting.get("ns_steps", 5)),
                adamw(parameter_groups([(n, p) for n, p in named if id(p) not in hidden],
                                       decay), hp.learning_rate)]
    else:
        opts = [adamw(parameter_groups(named, decay), lr)]
    if "beta2" in setting:
        for opt in opts:
            for group in opt.param_groups:
                if "betas" in group:
                    group["betas"] = (group["betas"][0], setting["beta2"])
    warmup, total = setting.get("warmup", hp.warmup_steps), setting["steps"]
    return [(opt, torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(step, warmup, total, hp.schedule))) for opt in opts]


def heldout_losses(net: torch.nn.Module, data: Any, batch: int = 25) -> dict[str, float]:
    """Per task, the mean loss per answer token on its validation rows, teacher-forced."""
    net.eval()
    losses = {}
    with torch.no_grad():
        for name in data.eval_task_names:
            rows = data.tokenized[data.eval_split][name].select_columns(["input_ids", "labels"])
            total, tokens = 0.0, 0
            for start in range(0, len(rows), batch):
                b = collate([rows[i] for i in range(start, min(start + batch, len(rows)))],
                            data.tokenizer.pad_token_id)
                n = int((b["labels"] != -100).sum())
                loss = net(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                           labels=b["labels"]).loss
                total, tokens = total + float(loss) * n, tokens + n
            losses[name] = round(total / max(tokens, 1), 4)
    net.train()
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--settings", nargs="+", default=["run", "muon:lr=2e-3"])
    args = parser.parse_args()
    settings = [parse_setting(s, args.steps) for s in args.settings]
    machine = describe_machine()
    print(f"machine: {machine}", flush=True)
    torch.manual_seed(0)
    module, data, trainer = quickstart(True)
    clip = trainer.get("gradient_clip_val")
    batches = data.train_batches(max(s["steps"] for s in settings))
    nets = [copy.deepcopy(module.model).train() for _ in settings]
    opts = [optimisers(s, net, module.hparams) for s, net in zip(settings, nets)]
    times: list[list[float]] = [[] for _ in settings]
    clipped = [0] * len(settings)  # steps whose gradient norm was over the setting's clip
    for i, batch in enumerate(batches):
        order = range(len(settings)) if i % 2 == 0 else reversed(range(len(settings)))
        for k in order:
            if i >= settings[k]["steps"]:
                continue
            started = time.perf_counter()
            loss = nets[k](input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           labels=batch["labels"]).loss
            loss.backward()
            limit = settings[k].get("clip", clip)
            if limit:
                norm = torch.nn.utils.clip_grad_norm_(nets[k].parameters(), limit)
                clipped[k] += int(norm > limit)
            for opt, schedule in opts[k]:
                opt.step()
                opt.zero_grad(set_to_none=True)
                schedule.step()
            times[k].append(time.perf_counter() - started)
        if (i + 1) % 500 == 0:
            print(f"  step {i + 1}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    base_ms = None
    width = max(28, *(len(s["name"]) + 1 for s in settings))
    print(f"\n{'setting':{width}} {'steps':>6} {'ms/step':>8} {'equal-time':>10} "
          f"{'held-out':>9} {'clipped':>8}")
    for s, net, t, over in zip(settings, nets, times, clipped):
        tasks = heldout_losses(net, data)
        ms = 1000 * statistics.mean(t[WARM_UP:] or t)
        base_ms = base_ms or ms
        row = {"steps": s["steps"], "ms_per_step": round(ms, 1),
               "equal_time_steps": round(s["steps"] * ms / base_ms),
               "heldout": round(statistics.mean(tasks.values()), 4),
               "clipped": round(over / s["steps"], 3), "tasks": tasks}
        results[s["name"]] = row
        print(f"{s['name']:{width}} {row['steps']:6} {row['ms_per_step']:8.1f} "
              f"{row['equal_time_steps']:10} {row['heldout']:9.4f} {row['clipped']:8.3f}",
              flush=True)
    print("\nheld-out loss per answer token, per task:")
    names = list(results[settings[0]["name"]]["tasks"])
    print(f"{'setting':{width}} " + " ".join(f"{n[:8]:>8}" for n in names))
    for name, row in results.items():
        print(f"{name:{width}} " + " ".join(f"{row['tasks'][n]:8.3f}" for n in names))
    print(json.dumps({"settings": results, "baseline": settings[0]["name"],
                      "steps": args.steps, "machine": machine}), flush=True)


if __name__ == "__main__":
    main()
