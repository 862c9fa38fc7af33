#!/usr/bin/env bash
# The GPU check, for a machine with a GPU: one script, under 8 minutes on an H100/H200.
# On the quickstart mixture (+ the real samples), bf16-mixed, a T5-base-size model (12+12
# layers, d_model 768) built from a config:
#   1. full training with decaqa's copy head: decaqa's step vs the plain loop on the same card
#      (benchmarks/train_throughput.py), and the model FLOP/s as a share of the card's bf16
#      peak (6 x parameters x tokens/s: forward and backward of a dense seq2seq model);
#   2. the same without the copy head (what the head costs on a GPU);
#   3. a LoRA over the frozen model (4 x parameters x tokens/s: the base's weights get no
#      gradient);
#   4. answering: ask_batch against one question at a time, the copy-head quickstart model on
#      the GPU (benchmarks/ask_throughput.py), answers identical.
# Each prints its table and one JSON line; the last line is one JSON object with all four.
#   bash benchmarks/gpu_check.sh [PEAK_TFLOPS]     # default 989 (H100/H200 dense bf16)
set -euo pipefail
cd "$(dirname "$0")/.."
PEAK=${1:-989}
LOGS=${GPU_CHECK_LOGS:-$(mktemp -d)}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
BASE='{"d_model": 768, "d_ff": 3072, "d_kv": 64, "num_heads": 12, "num_layers": 12, "num_decoder_layers": 12}'
TRAIN=(python benchmarks/train_throughput.py --accelerator gpu --precision bf16-mixed
       --steps 120 --max-tokens 65536 --max-rows 512 --batch-size 64 --model-config "$BASE")
"${TRAIN[@]}" 2>&1 | tee "$LOGS/copy.log"
"${TRAIN[@]}" --copy none 2>&1 | tee "$LOGS/plain.log"
"${TRAIN[@]}" --adapter lora 2>&1 | tee "$LOGS/lora.log"
python benchmarks/ask_throughput.py --device cuda --train-steps 300 2>&1 | tee "$LOGS/ask.log"
python - "$PEAK" "$LOGS" <<'PY'
import json, sys
from pathlib import Path
peak, logs = float(sys.argv[1]) * 1e12, Path(sys.argv[2])
out = {}
for name in ("copy", "plain", "lora"):
    result = json.loads((logs / f"{name}.log").read_text().strip().splitlines()[-1])
    for side in ("decaqa", "plain"):
        flops = result["flops_per_token"] * result[f"{side}_tokens_per_s"]
        result[f"{side}_mfu"] = round(flops / peak, 4)
        print(f"{name:6} {side:7} {flops / 1e12:7.1f} TFLOP/s = {flops / peak:6.1%} of the bf16 peak")
    out[f"train_{name}"] = result
out["answering"] = json.loads((logs / "ask.log").read_text().strip().splitlines()[-1])
print(json.dumps(out))
PY
