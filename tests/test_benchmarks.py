"""Each benchmark runs (reduced) and ends with one JSON line holding exactly the issue's keys."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

CASES = {
    "train_throughput.py": (["--steps", "6"],
                            {"ratio", "decaqa_tokens_per_s", "plain_tokens_per_s",
                             "decaqa_padding", "plain_padding"}),
    "ask_throughput.py": (["--n", "30", "--train-steps", "30"],
                          {"ratio", "identical", "n", "decaqa_s", "plain_s",
                           "decaqa_questions_per_s", "plain_questions_per_s"}),
    "data_scale.py": (["--sizes", "300", "3000", "--num-proc", "1"],
                      {"rows_per_s_100k", "rows_per_s_1m", "peak_rss_mb_100k", "peak_rss_mb_1m",
                       "memory_ratio", "cache_speedup"}),
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
    if script == "ask_throughput.py":
        assert result["n"] == 30 and result["identical"] is True
