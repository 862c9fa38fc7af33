#!/usr/bin/env bash
# The GPU check, for a machine with a GPU (one short script, under 5 minutes):
# the quickstart mixture (+ the real samples) on a larger T5 built from a config, bf16-mixed,
# decaqa's training step vs the plain loop on the same card (benchmarks/train_throughput.py),
# and the model FLOP/s decaqa achieves as a fraction of the card's bf16 peak
# (6 x parameters x tokens/s: forward and backward of a dense seq2seq model).
#   bash benchmarks/gpu_check.sh [PEAK_TFLOPS]     # default 989 (H100/H200 dense bf16)
set -euo pipefail
cd "$(dirname "$0")/.."
PEAK=${1:-989}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
LOG=$(mktemp)
python benchmarks/train_throughput.py --accelerator gpu --precision bf16-mixed \
      --steps 200 --max-tokens 65536 --max-rows 512 --batch-size 64 \
      --model-config '{"d_model": 768, "d_ff": 3072, "d_kv": 64, "num_heads": 12, "num_layers": 12, "num_decoder_layers": 12}' \
      2>&1 | tee "$LOG"
python - "$PEAK" "$LOG" <<'PY'
import json, sys
lines = open(sys.argv[2]).read().strip().splitlines()
result = json.loads(lines[-1])
params = int(next(l for l in lines if l.startswith("params:")).split()[1])
peak = float(sys.argv[1]) * 1e12
for side in ("decaqa", "plain"):
    flops = 6 * params * result[f"{side}_tokens_per_s"]
    print(f"{side}: {flops / 1e12:.1f} TFLOP/s = {flops / peak:.1%} of the bf16 peak")
result["decaqa_mfu"] = round(6 * params * result["decaqa_tokens_per_s"] / peak, 4)
result["plain_mfu"] = round(6 * params * result["plain_tokens_per_s"] / peak, 4)
print(json.dumps(result))
PY
