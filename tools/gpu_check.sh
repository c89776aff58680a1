#!/usr/bin/env bash
# The prepared GPU check: everything that needs CUDA, in one run, with one Markdown report.
#
#   python tools/gpu_wheelhouse.py            # here, once: the wheels the GPU machine lacks (wheelhouse/)
#   bash tools/gpu_check.sh REPORT_FOLDER     # on the GPU machine, with wheelhouse/ carried along
#   bash tools/gpu_check.sh REPORT_FOLDER --device cpu    # the CPU fallback: the same steps on this machine
#
# On a GPU machine that has torch, torchaudio and the scientific stack but no package registry, it installs the
# missing wheels from wheelhouse/ with --no-deps (each only if its distribution is absent: the preinstalled torch
# is never touched), puts the repository on PYTHONPATH, then runs, each step under its own time limit:
#   1. the environment report (python -m summarymixing);
#   2. pytest -m cuda (cell, encoders, transducer loss on CUDA in fp32/fp16/bf16 vs fp32 CPU, padding
#      invariance, compiled == eager, the transducer mini recipe in fp16 and bf16 and under 1-process nccl DDP);
#   3. every benchmark's --quick run on the device, in fp32 and in the half precision (fp16 on CUDA, bf16 on CPU);
#   4. one epoch of the transducer mini recipe (hparams/transducer/mini.yaml) on the device, with its WER table.
# REPORT_FOLDER/report.md gathers each step's command, exit status, duration and output (tables in full, logs
# tailed); REPORT_FOLDER/<step>.log keeps every output whole. Budget: under 8 minutes on one H200.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    echo "usage: bash tools/gpu_check.sh REPORT_FOLDER [--device cuda|cpu]" >&2
    exit 2
fi
report_folder=$1
device=cuda
if [ $# -ge 3 ] && [ "$2" = "--device" ]; then
    device=$3
fi
python=${PYTHON:-python3}
mkdir -p "$report_folder"
report=$report_folder/report.md
half=fp16
scale=1  # the step limits are sized for one GPU; a CPU takes several times longer
if [ "$device" = cpu ]; then
    half=bf16
    scale=6
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

{
    echo "# GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'), device $device)"
    echo
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(uname -n)"
    if command -v nvidia-smi >/dev/null; then
        echo
        echo '```'
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
        echo '```'
    fi
} >"$report"

if [ -d wheelhouse ]; then
    installed=""
    for wheel in wheelhouse/*.whl; do
        name=$(basename "$wheel" | cut -d- -f1)
        if ! "$python" -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$name" 2>/dev/null; then
            "$python" -m pip install --quiet --no-index --no-deps "$wheel" && installed="$installed $name"
        fi
    done
    printf '\ninstalled from wheelhouse/ (--no-deps):%s\n' "${installed:- nothing, all present}" >>"$report"
fi

# step NAME LIMIT_S MODE COMMAND...: runs the command, appends its section to the report (MODE full: the whole
# output, for tables; tail: the last 40 lines)
step() {
    local name=$1 limit=$2 mode=$3
    shift 3
    local log=$report_folder/$name.log start status
    start=$(date +%s)
    limit=$((limit * scale))
    timeout "$limit" "$@" >"$log" 2>&1
    status=$?
    {
        echo
        echo "## $name: exit $status in $(($(date +%s) - start)) s$([ $status -eq 124 ] && echo " (TIMED OUT at $limit s)")"
        echo
        echo "\`$*\`"
        echo
        echo '```'
        grep -v -E '^(USDT|\[W[0-9]|ERROR:.*gpuGetDeviceCount)' "$log" | if [ "$mode" = full ]; then cat; else tail -n 40; fi
        echo '```'
    } >>"$report"
    echo "$name: exit $status" >&2
}

step environment 60 full "$python" -m summarymixing
if [ "$device" = cuda ]; then
    step pytest_cuda 240 tail "$python" -m pytest -m cuda -q -p no:cacheprovider -rs tests
fi
for precision in fp32 "$half"; do
    step "cell_$precision" 60 full "$python" -m summarymixing.benchmarks.cell --quick --device "$device" \
        --precision "$precision"
    step "encoder_$precision" 60 full "$python" -m summarymixing.benchmarks.encoder --quick --device "$device" \
        --precision "$precision"
    step "transducer_$precision" 120 full "$python" -m summarymixing.benchmarks.transducer --quick \
        --device "$device" --precision "$precision"
    step "asr_$precision" 90 full "$python" -m summarymixing.benchmarks.asr --quick --device "$device" \
        --precision "$precision"
    step "wav2vec2_$precision" 90 full "$python" -m summarymixing.benchmarks.wav2vec2 --quick --device "$device" \
        --precision "$precision"
done
step transducer_mini_epoch 180 tail "$python" recipes/transducer/train.py hparams/transducer/mini.yaml \
    --device="$device" --number_of_epochs=1 --output_folder="$report_folder/transducer_mini" --noprogressbar

echo "report: $report" >&2
