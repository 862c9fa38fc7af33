"""Each benchmark runs (reduced) and ends with one JSON line holding exactly the issue's keys."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SMOKE = str(BENCHMARKS.parent / "configs" / "smoke.yaml")

SERVE_KEYS = {"rps", "sequential_rps", "ratio", "p50_ms", "p95_ms", "p99_ms", "errors", "sent",
              "answered", "identical"}
CASES = {
    "train_throughput.py": (["--steps", "6"],
                            {"ratio", "decaqa_tokens_per_s", "plain_tokens_per_s",
                             "decaqa_padding", "plain_padding", "params", "flops_per_token"}),
    "step_overhead.py": (["--steps", "16", "--warmup", "4"],
                         {"bare_ms", "fit_ms", "ratio", "same_batches_ms", "same_batches_ratio",
                          "bare_parts_ms", "top_costs", "precision", "machine"}),
    "ask_throughput.py": (["--n", "30", "--train-steps", "30"],
                          {"ratio", "identical", "n", "num_beams", "task_beams", "decaqa_s",
                           "plain_s", "decaqa_questions_per_s", "plain_questions_per_s"}),
    "kernel_choice.py": (["--steps", "8", "--warmup", "3", "--n", "20", "--train-steps", "20",
                          "--no-compile", "--precision", "32-true"],
                         {"attention", "train", "answer", "compile_available", "precision",
                          "machine"}),
    "precision_probe.py": (["--batches", "6"],
                           {"first", "second", "ratio_first", "ratio_second", "batches",
                            "machine"}),
    "data_scale.py": (["--sizes", "300", "3000", "--num-proc", "1"],
                      {"rows_per_s_100k", "rows_per_s_1m", "peak_rss_mb_100k", "peak_rss_mb_1m",
                       "memory_ratio", "cache_speedup"}),
    "specialist_vs_generalist.py": (["--quick", "--base-steps", "4", "--steps", "2",
                                     "--val-limit", "2", "--out", "svg", "--methods",
                                     "zero_shot", "full_per_task", "bitfit", "lora_routed",
                                     "lora_merged_linear"],
                                    {"methods", "base_bytes"}),
    "serve_load.py": (["--clients", "1", "4", "--requests", "2", "--n", "8", "--train-steps",
                       "20", "--headline", "4", "--time-limit", "120"], SERVE_KEYS),
    "hundred_adapters.py": (["--n", "4", "--questions", "8", "--train-steps", "20", "--clients",
                             "1", "4", "--requests", "2", "--time-limit", "120"],
                            {"adapters", "base_rss_mb", "with_adapters_rss_mb", "growth_mb",
                             "adapters_mb", "growth_ratio", "disk_adapters_mb",
                             "disk_full_copies_mb", "disk_ratio", "add_one_ms", "mixed_s",
                             "grouped_s", "swapped_s", "grouped_ratio", "swapped_ratio",
                             "identical", "load_test"}),
    "task_losses.py": (["--rows", "4", "--train-steps", "10"], {"tasks", "rows", "machine"}),
    "sample_efficiency.py": (["--steps", "4", "--settings", "run", "run:lr=1e-3,steps=2,clip=1e-9",
                              "muon:lr=2e-3,ns_steps=2,clip=0"],
                             {"settings", "baseline", "steps", "machine"}),
    "kill_and_resume.py": (["--config", SMOKE, "--steps", "60", "--kill-at", "20", "--every",
                            "5", "--out", "runs"], {"uninterrupted", "resumed", "identical"}),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_ends_with_its_json_line(script: str, tmp_path: Path) -> None:
    args, keys = CASES[script]
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("machine: ")                    # says what it ran on
    result = json.loads(lines[-1])                             # the last line, JSON
    assert set(result) == keys
    if "ratio" in result:
        assert result["ratio"] > 0
    if script == "step_overhead.py":   # a profile of where fit's time goes beyond the bare loop
        assert result["bare_ms"] > 0 and result["fit_ms"] > 0 and result["top_costs"]
        assert all(isinstance(name, str) and ms >= 0 for name, ms in result["top_costs"])
    if script == "task_losses.py":  # every task of the run, both losses, their ratio
        assert len(result["tasks"]) == 10
        for row in result["tasks"].values():
            assert row["train"] > 0 and row["validation"] > 0
            assert row["ratio"] == pytest.approx(row["validation"] / row["train"], abs=0.01)
    if script == "sample_efficiency.py":  # each setting trained its own steps, scored on all
        settings = result["settings"]
        assert list(settings) == ["run", "run:lr=1e-3,steps=2,clip=1e-9",
                                  "muon:lr=2e-3,ns_steps=2,clip=0"]
        assert [row["steps"] for row in settings.values()] == [4, 2, 4]
        # its own clip: every step's gradient over 1e-9, none clipped without one
        assert [row["clipped"] for row in settings.values()][1:] == [1.0, 0.0]
        assert 0 <= settings["run"]["clipped"] <= 1
        assert result["baseline"] == "run" and settings["run"]["equal_time_steps"] == 4
        for row in settings.values():
            assert len(row["tasks"]) == 10 and row["ms_per_step"] > 0
            assert row["heldout"] == pytest.approx(sum(row["tasks"].values()) / 10, abs=1e-3)
    if script == "serve_load.py":   # 4 clients x 2 requests: each answered once, as ask does
        assert result["sent"] == result["answered"] == result["identical"] == 8
        assert result["errors"] == 0 and result["p50_ms"] <= result["p99_ms"]
    if script == "hundred_adapters.py":
        assert result["adapters"] == 4 and result["identical"] == 8   # the three ways agree
        assert result["disk_ratio"] > 1 and result["adapters_mb"] > 0 and result["add_one_ms"] > 0
        load = result["load_test"]
        assert set(load) == SERVE_KEYS and load["sent"] == load["answered"] == load["identical"]
    if script == "ask_throughput.py":
        assert result["n"] == 30 and result["identical"] is True
        # the quickstart's decoding: four beams for translation and summaries, greedy elsewhere
        assert result["num_beams"] == 1
        assert result["task_beams"] == {"iwslt": 4, "cnn_dailymail": 4}
    if script == "kernel_choice.py":   # every kernel measured against the default, both heads
        assert set(result["train"]) == {"copy", "no_copy"} and result["precision"] == "32-true"
        for rows in (*result["train"].values(), result["answer"]):
            assert {"default", "attention sdpa, stock", "attention eager", "gelu_new"} <= set(rows)
            assert all(row.get("vs_default", 0) > 0 for row in rows.values()), rows
        assert result["answer"]["default"]["identical"] == 20
        assert result["answer"]["attention sdpa, stock"]["identical"] == 20  # the same numbers
        assert set(result["attention"]) == {f"{layer}-attention, {p}" for layer in ("cross", "self")
                                            for p in ("fp32", "bf16")}
        assert all(row["sdpa_ms"] > 0 and row["decaqa_ms"] > 0
                   for row in result["attention"].values())
    if script == "specialist_vs_generalist.py":   # the compare's rows, over a quickstart base
        methods = result["methods"]
        assert list(methods) == ["zero_shot", "full_per_task", "bitfit", "lora_routed",
                                 "lora_merged_linear"]
        assert "no bias terms" in methods.pop("bitfit")["skipped"]   # a T5: one sentence
        for row in methods.values():
            assert set(row) == {"trainable_pct", "disk_bytes_all_tasks", "train_s",
                                "new_tasks_score", "old_decascore_before",
                                "old_decascore_after", "lr"}
        base = result["base_bytes"]
        assert methods["zero_shot"]["disk_bytes_all_tasks"] == base
        assert methods["full_per_task"]["disk_bytes_all_tasks"] == 5 * base   # five models
        assert methods["full_per_task"]["trainable_pct"] == pytest.approx(500.0, abs=0.01)
        assert base < methods["lora_routed"]["disk_bytes_all_tasks"] < 1.5 * base
        assert methods["lora_routed"]["old_decascore_after"] == \
            methods["lora_routed"]["old_decascore_before"]             # the base, untouched
        assert (tmp_path / "svg" / "compare" / "table.md").exists()
        assert (tmp_path / "svg" / "compare" / "score_vs_bytes.png").read_bytes().startswith(
            b"\x89PNG")
    if script == "kill_and_resume.py":   # killed part-way, resumed to the very same run
        assert 20 <= result["resumed"]["killed_at"] < 60
        assert result["resumed"]["step"] == result["uninterrupted"]["step"] == 60
        assert result["resumed"]["decascore"] == result["uninterrupted"]["decascore"]
        assert result["resumed"]["mixture"] == result["uninterrupted"]["mixture"]
        assert result["identical"] == {"scores": True, "mixture": True, "predictions": True,
                                       "weights": True}
