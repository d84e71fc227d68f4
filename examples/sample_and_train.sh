#!/usr/bin/env bash
# Sample networks from a design space under a MACs budget, then train each with
# examples/train.py under torchrun (docs/scaling.md).
#
#   examples/sample_and_train.sh [FILE] [MACS LOW..HIGH] [COUNT] [OUT_DIR] [VARY]
#   examples/sample_and_train.sh zoo/efficientnet.arch 300M..500M 3 runs/sampled width,depth
#
# Environment: DATA (an image folder; default: FakeData), STEPS (optimizer steps per network;
# 0 = all epochs; default 5, a smoke run), NPROC (processes per node, default 1), SEED (0),
# INPUT (training input size, default 3x64x64 for the smoke run; set it to the file's for real runs),
# EXTRA (more train.py arguments, e.g. "--epochs 100 --batch 256").
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${1:-zoo/efficientnet.arch}
BUDGET=${2:-300M..500M}
COUNT=${3:-3}
OUT=${4:-runs/sampled}
VARY=${5:-width,depth}
STEPS=${STEPS:-5}
NPROC=${NPROC:-1}
SEED=${SEED:-0}
INPUT=${INPUT:-3x64x64}

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
# one .arch file per sample, the sample as its first (default) variant, and the params/MACs plot
python -m archdsl sample "$FILE" --vary "$VARY" --macs "$BUDGET" --n "$COUNT" --seed "$SEED" \
    -o "$OUT/nets" --plot "$OUT/samples.png" | tee "$OUT/samples.txt"

data=()
if [ -n "${DATA:-}" ]; then data=(--data "$DATA"); else data=(--fake-size 64 --set classes=10); fi
for net in "$OUT"/nets/*.arch; do
    name=$(basename "$net" .arch)
    echo "== training $name"
    torchrun --standalone --nproc_per_node "$NPROC" examples/train.py "$net" "${data[@]}" \
        --input "$INPUT" --steps "$STEPS" --batch 8 --workers 0 --out "$OUT/$name.pt" ${EXTRA:-} \
        | tee "$OUT/$name.log"
done
echo "trained $(ls "$OUT"/nets/*.arch | wc -l) networks; logs and weights in $OUT"
