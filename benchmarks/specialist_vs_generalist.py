"""Specialists and the generalist, side by side from one frozen base, on the mini decathlon.

The question: to serve ten tasks from one small pretrained model, should you fine-tune all of
it once on the mixture (the *generalist*, decaNLP's way), fine-tune it once per task (ten
*specialists*), or keep it frozen and train a small adapter per task? What does each cost in
trainable parameters, bytes on disk and training time, and what does it score?

Protocol (every figure of one run comes from the same base and the same data):

1. **Vocabulary.** A BPE of 4,000 pieces trained on the training text of all ten tasks (as a
   pretrained model's tokenizer covers the language; only the text, no answers' labels).
2. **Base.** A BART built from a config (d_model 128, 2+2 layers, 4 heads, feed-forward 512:
   it has bias terms, so BitFit has something to train) trained from scratch on **five** of
   the ten tasks (`PRETRAIN`: squad, qa_srl, iwslt, cnn_dailymail, multinli: reading,
   extracting, translating, summarising, classifying) for `base_steps`. The other five
   (`NEW`: sst2, qa_zre, woz, wikisql, wsc) are new to it: new questions, new output forms
   (labels it never produced, dialogue states, SQL), some of them close to a skill it has
   (qa_zre and wsc answer from the context, as squad does).
3. **Rows.** Each starts from that base and trains on all ten tasks, equal mixture, the same
   number of training steps `steps` in all (one task per batch):
   ``base`` (no training: zero-shot), ``full_multitask`` (all weights, one model: the
   generalist), ``full_per_task`` (all weights, one model per task, `steps / 10` each: ten
   specialists), the adapter methods in ``per_task`` mode (each task's adapter trains on its
   own task's batches: ``lora``, ``ia3``, ``prefix``, ``prompt``, ``ln_tuning``, ``bitfit``,
   ``houlsby``, ``adapterbias``), and LoRA ``shared`` (one adapter on the mixture) and
   ``routed`` (peft's Poly: 4 skills mixed per task).
4. **Measured.** Each task's validation score (at most `val_limit` examples per task) and the
   decaScore over all ten, with the new five's sum beside it; trainable parameters for all
   ten tasks together as a share of the base (ten full models are 1000%); bytes on disk for
   all ten tasks together, measured from the files (weights and their configs: the base plus
   the adapters, or every full model; the tokenizer, the same for all, left out); and the
   seconds in the training loop (validation left out; the ten specialists' added up).

Learning rates: 5e-4 for the base and full fine-tuning (BART's post-norm layers trained from
scratch learned nothing in 3,000 steps at 1e-3; at 5e-4 with scaled embeddings they do), and
the larger rates small adapters need (`LEARNING_RATES`), fixed before the measured run, the
same in the quick and the full run.

    python benchmarks/specialist_vs_generalist.py           # the full run (under 30 min)
    python benchmarks/specialist_vs_generalist.py --quick   # reduced (under 5 min)

The quick run checks the whole pipeline (every row trains, saves, is measured and scored;
1 min 42 s on the Xeon); its base has too few steps to have learnt much, so its scores are
near the floor: read the full run's.

Writes ``OUT/table.md`` and ``OUT/chart.png`` (score against bytes on disk, one point per
method) and ends with one JSON line: ``{"methods": {name: {"trainable_pct",
"disk_bytes_all_tasks", "decascore", "train_s"}}, "base_bytes": ...}``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

from decaqa.adapters import file_bytes
from decaqa.provenance import describe_machine
from decaqa.cli import run
from decaqa.data import MINI_DECATHLON_TASKS

PRETRAIN = ["squad", "qa_srl", "iwslt", "cnn_dailymail", "multinli"]
NEW = [t for t in MINI_DECATHLON_TASKS if t not in PRETRAIN]
BART = {"model_type": "bart", "d_model": 128, "encoder_layers": 2, "decoder_layers": 2,
        "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 512,
        "decoder_ffn_dim": 512, "max_position_embeddings": 512, "dropout": 0.0,
        "scale_embedding": True}
ADAPTERS = {"lora": {"method": "lora"}, "ia3": {"method": "ia3"},
            "prefix": {"method": "prefix"}, "prompt": {"method": "prompt"},
            "ln_tuning": {"method": "ln_tuning"}, "bitfit": {"method": "bitfit"},
            "houlsby": {"method": "houlsby"}, "adapterbias": {"method": "adapterbias"},
            "lora_shared": {"method": "lora", "mode": "shared"},
            "lora_routed": {"method": "lora", "mode": "routed"}}
LEARNING_RATES = {"full": 5e-4, "lora": 3e-3, "ia3": 1e-2, "prefix": 1e-2, "prompt": 3e-2,
                  "ln_tuning": 3e-3, "bitfit": 3e-3, "houlsby": 3e-3, "adapterbias": 1e-2}
ORDER = ["base", "full_multitask", "full_per_task", *ADAPTERS]
WEIGHTS = ("*.safetensors", "config.json", "adapter_config.json")


def weights_bytes(folder: Path) -> int:
    """Bytes of the weights and their configs under ``folder`` (no tokenizer, no logs)."""
    return file_bytes(*[f for pattern in WEIGHTS for f in folder.rglob(pattern)])


def fit(run_dir: Path, *args: str) -> dict:
    """One `decaqa fit` in this process, its output in ``run_dir``.log; its metrics.json."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.with_suffix(".log"), "w") as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        code = run(["fit", "--run_dir", str(run_dir), "--trainer.enable_progress_bar", "false",
                    "--trainer.enable_model_summary", "false", "--trainer.logger", "false",
                    *args])
    if code != 0:
        raise SystemExit(f"decaqa fit failed for {run_dir} (exit {code}): see "
                         f"{run_dir.with_suffix('.log')}")
    return json.loads((run_dir / "metrics.json").read_text())


def common(steps: int, val_limit: int, tasks: list[str] = MINI_DECATHLON_TASKS) -> list[str]:
    return ["--seed_everything", "0", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
            "--trainer.precision", "32-true", "--trainer.max_steps", str(steps),
            "--trainer.val_check_interval", str(steps), "--trainer.check_val_every_n_epoch",
            "null", "--trainer.num_sanity_val_steps", "0", "--trainer.gradient_clip_val", "1.0",
            "--checkpoint_every_n_steps", str(10 * steps),
            "--data.tasks", json.dumps(tasks), "--data.val_limit", str(val_limit),
            "--data.mixture.strategy", "equal", "--data.max_source_tokens", "256",
            "--data.max_target_tokens", "96", "--data.batching.batch_size", "24",
            "--data.batching.max_tokens", "2048", "--data.eval_batch_size", "100",
            "--model.warmup_steps", str(max(1, steps // 10)), "--model.max_new_tokens", "64"]


def scores(doc: dict) -> dict[str, float]:
    return {t: v["score"] for t, v in doc["tasks"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced: under 5 minutes")
    parser.add_argument("--out", default="runs/specialist_vs_generalist")
    parser.add_argument("--base-steps", type=int, help="default 4000 (quick 400)")
    parser.add_argument("--steps", type=int, help="fine-tuning steps per row (default 1200, "
                                                  "quick 100)")
    parser.add_argument("--val-limit", type=int, help="default 100 (quick 16)")
    parser.add_argument("--methods", nargs="+", choices=ORDER, default=ORDER)
    args = parser.parse_args()
    base_steps = args.base_steps or (400 if args.quick else 4000)
    steps = args.steps or (100 if args.quick else 1200)
    val_limit = args.val_limit or (16 if args.quick else 100)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {describe_machine()}")
    print(f"protocol: base pretrained on {', '.join(PRETRAIN)} for {base_steps} steps; new "
          f"to it: {', '.join(NEW)}; every row {steps} steps on all ten; {val_limit} "
          "validation examples per task", flush=True)
    started = time.time()

    # 1-2. the vocabulary (all ten tasks' text) and the base (five tasks)
    from decaqa.data import TaskDataModule
    from decaqa.tokenizer import train_tokenizer

    tokenizer_file = out / "tokenizer.json"
    if not tokenizer_file.exists():
        texts = TaskDataModule(tasks=list(MINI_DECATHLON_TASKS)).training_texts()
        train_tokenizer(texts, 4000).backend_tokenizer.save(str(tokenizer_file))
    config = out / "base.yaml"
    config.write_text("model:\n  config: " + json.dumps(BART) + "\n")
    base_run = out / "base"
    fit(base_run, "--config", str(config), "--model.tokenizer", str(tokenizer_file),
        "--model.learning_rate", str(LEARNING_RATES["full"]),
        *common(base_steps, val_limit, PRETRAIN))
    base = base_run / "model"
    base_bytes = weights_bytes(base)
    print(f"base: {base_bytes:,} bytes, pretrained in {time.time() - started:.0f}s", flush=True)

    rows: dict[str, dict] = {}
    for name in args.methods:
        t0 = time.time()
        if name == "base":  # zero-shot: the base as it is, on all ten tasks
            from decaqa.evaluate import evaluate_model

            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                results, _ = evaluate_model(str(base), tasks=",".join(MINI_DECATHLON_TASKS),
                                            limit=val_limit)
            rows[name] = {"scores": scores(results), "trainable": 0, "disk": base_bytes,
                          "train_s": 0.0}
        elif name == "full_multitask":
            doc = fit(out / name, "--model.model", str(base), "--model.learning_rate",
                      str(LEARNING_RATES["full"]), *common(steps, val_limit))
            rows[name] = {"scores": scores(doc),
                          "trainable": doc["provenance"]["parameters"]["trainable"],
                          "disk": weights_bytes(out / name / "model"),
                          "train_s": doc["provenance"]["training_loop_seconds"]}
        elif name == "full_per_task":
            per_task = {}
            for task in MINI_DECATHLON_TASKS:
                doc = fit(out / name / task, "--model.model", str(base),
                          "--model.learning_rate", str(LEARNING_RATES["full"]),
                          *common(max(1, steps // len(MINI_DECATHLON_TASKS)), val_limit,
                                  [task]))
                per_task[task] = doc
            rows[name] = {
                "scores": {t: d["tasks"][t]["score"] for t, d in per_task.items()},
                "trainable": sum(d["provenance"]["parameters"]["trainable"]
                                 for d in per_task.values()),
                "disk": sum(weights_bytes(out / name / t / "model") for t in per_task),
                "train_s": sum(d["provenance"]["training_loop_seconds"]
                               for d in per_task.values())}
        else:
            adapter = ADAPTERS[name]
            doc = fit(out / name, "--model.model", str(base), "--model.adapter",
                      json.dumps(adapter), "--model.learning_rate",
                      str(LEARNING_RATES[adapter["method"]]), *common(steps, val_limit))
            rows[name] = {"scores": scores(doc),
                          "trainable": doc["provenance"]["parameters"]["trainable"],
                          "disk": base_bytes + weights_bytes(out / name / "adapters"),
                          "train_s": doc["provenance"]["training_loop_seconds"]}
        row = rows[name]
        row["decascore"] = round(sum(row["scores"].values()), 1)
        row["new_five"] = round(sum(row["scores"][t] for t in NEW), 1)
        print(f"{name}: decaScore {row['decascore']:.1f} (new five {row['new_five']:.1f}), "
              f"{row['disk']:,} bytes, {time.time() - t0:.0f}s", flush=True)

    base_params = json.loads((base_run / "metrics.json").read_text())[
        "provenance"]["parameters"]["base"]
    table = markdown(rows, base_params, base_bytes)
    (out / "table.md").write_text(table)
    chart(rows, base_bytes, out / "chart.png")
    print(table)
    print(f"wrote {out / 'table.md'} and {out / 'chart.png'} in {time.time() - started:.0f}s")
    print(json.dumps({"methods": {n: {"trainable_pct": round(100 * r["trainable"] / base_params,
                                                             3),
                                      "disk_bytes_all_tasks": r["disk"],
                                      "decascore": r["decascore"],
                                      "train_s": round(r["train_s"], 1)}
                                  for n, r in rows.items()},
                      "base_bytes": base_bytes}))


def markdown(rows: dict[str, dict], base_params: int, base_bytes: int) -> str:
    tasks = list(MINI_DECATHLON_TASKS)
    head = (["method", "trainable (all tasks)", "% of base", "disk, all tasks", "x base",
             "train s"] + tasks + ["new five", "decaScore"])
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for name, r in rows.items():
        cells = [name, f"{r['trainable']:,}", f"{100 * r['trainable'] / base_params:.2f}%",
                 f"{r['disk'] / 1e6:.2f} MB", f"{r['disk'] / base_bytes:.2f}",
                 f"{r['train_s']:.0f}"]
        cells += [f"{r['scores'][t]:.1f}" for t in tasks]
        cells += [f"{r['new_five']:.1f}", f"**{r['decascore']:.1f}**"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Base: {base_params:,} parameters, {base_bytes / 1e6:.2f} MB. New to the "
                  f"base: {', '.join(NEW)}."]
    return "\n".join(lines) + "\n"


def chart(rows: dict[str, dict], base_bytes: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    scores = [r["decascore"] for r in rows.values()]
    gap = max(1.0, (max(scores) - min(scores)) * 0.045)  # labels this far apart, in score
    label_y: dict[str, float] = {}
    for name in sorted(rows, key=lambda n: rows[n]["decascore"]):  # push close labels up
        y = rows[name]["decascore"]
        while any(abs(v - y) < gap for v in label_y.values()):
            y = max(v for v in label_y.values() if abs(v - y) < gap) + gap
        label_y[name] = y
    for name, r in rows.items():
        kind = ("#c0392b" if name.startswith("full") else "#7f8c8d" if name == "base"
                else "#3b75af")
        x = r["disk"] / base_bytes
        ax.scatter(x, r["decascore"], color=kind, s=40, zorder=3)
        ax.annotate(name, (x, r["decascore"]), xytext=(x * 1.04, label_y[name]), fontsize=7,
                    va="center", arrowprops={"arrowstyle": "-", "color": "#bbbbbb", "lw": 0.6}
                    if label_y[name] != r["decascore"] else None)
    ax.set_xlim(0.9, 14)
    ax.set_xscale("log")
    ax.set_xlabel("bytes on disk for all ten tasks, in units of the base (log)")
    ax.set_ylabel("decaScore (ten tasks)")
    ax.set_title("Specialists and the generalist from one frozen base (mini decathlon)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
