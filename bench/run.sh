#!/usr/bin/env bash
# The standard speed benchmark (issue 7): random-weight Llama-3.2-1B-shaped
# models written by `entroscope synth` in F16, Q8_0 and Q4_K_M, each run by
# `entroscope bench` on 1 and 2 threads, gathered in one Markdown table.
# See bench/README.md for what is measured and for the variables below.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

BUILD=${BUILD:-build}
MODELS_DIR=${MODELS_DIR:-bench/models}   # synth models and JSON results (git-ignored)
OUT=${OUT:-bench/results.md}             # "-": the table to stdout
PRESET=${PRESET:-llama-3.2-1b}
TYPES=${TYPES:-f16 q8_0 q4_k_m}
THREADS=${THREADS:-1 2}
REPS=${REPS:-5}
BENCH_ARGS=${BENCH_ARGS:--p 128 -n 64 --ctx 1024}
VOCAB=${VOCAB:-../shared/tokenizers/llama3/tokenizer.json}
SEED=${SEED:-1}
LLAMA_BENCH=${LLAMA_BENCH:-}       # optional: a llama-bench binary, run on the same files
LLAMA_ARGS=${LLAMA_ARGS:--p 128 -n 64 -mmp 0}  # -mmp 0: read the file, as entroscope does (see bench/README.md)
LLAMA_QUANTIZE=${LLAMA_QUANTIZE:-} # optional: makes a type synth rejects from the F16 file
PIN_CPU=${PIN_CPU:-}               # optional: a CPU both engines' one-thread runs are pinned to
KERNELS=${KERNELS:-}               # optional: entroscope's kernel set (--kernels), e.g. avx2

say() { echo "bench/run.sh: $*" >&2; }

make BUILD="$BUILD" "$BUILD/entroscope" >&2
es="$BUILD/entroscope"
mkdir -p "$MODELS_DIR"

vocab_args=()
if [ -f "$VOCAB" ]; then
    vocab_args=(--vocab-from "$VOCAB")
else
    say "no $VOCAB: using the preset's synthetic vocabulary (same size, 128256)"
fi

# Writes $MODELS_DIR/$PRESET-$type.gguf unless it is there; returns 1 (with
# a message) when neither synth nor llama-quantize can make the type.
make_model() {
    local type=$1 file="$MODELS_DIR/$PRESET-$1.gguf" msg
    [ -f "$file" ] && return 0
    say "writing $file"
    if msg=$("$es" synth --preset "$PRESET" --type "$type" --seed "$SEED" "${vocab_args[@]}" \
                -o "$file" 2>&1); then
        return 0
    fi
    if [ -n "$LLAMA_QUANTIZE" ] && [ "$type" != f16 ] && make_model f16; then
        local ftype
        ftype=$(echo "$type" | tr '[:lower:]' '[:upper:]')
        say "synth rejects $type ($msg); making it with llama-quantize"
        "$LLAMA_QUANTIZE" "$MODELS_DIR/$PRESET-f16.gguf" "$file.tmp" "$ftype" >/dev/null 2>&1 &&
            mv "$file.tmp" "$file" && return 0
        rm -f "$file.tmp"
    fi
    say "skipping $type: $msg"
    return 1
}

table=$(mktemp)
llama_table=$(mktemp)
report=$(mktemp)
trap 'rm -f "$table" "$llama_table" "$report"' EXIT

if [ -n "$PIN_CPU" ] && ! command -v taskset >/dev/null; then
    say "PIN_CPU needs taskset (util-linux)"; exit 1
fi

for type in $TYPES; do
    make_model "$type" || continue
    file="$MODELS_DIR/$PRESET-$type.gguf"
    for t in $THREADS; do
        say "$file, $t thread(s)"
        pin=()
        if [ -n "$PIN_CPU" ] && [ "$t" = 1 ]; then pin=(taskset -c "$PIN_CPU"); fi
        row=$(mktemp)
        kernels=()
        if [ -n "$KERNELS" ]; then kernels=(--kernels "$KERNELS"); fi
        # shellcheck disable=SC2086 # BENCH_ARGS is a list of options
        if "${pin[@]}" "$es" bench -m "$file" -t "$t" -r "$REPS" "${kernels[@]}" $BENCH_ARGS --markdown \
                --json "$MODELS_DIR/result-$type-t$t.json" >"$row"; then
            if [ -s "$table" ]; then tail -n +3 "$row" >>"$table"; else cat "$row" >>"$table"; fi
        else
            say "entroscope bench failed on $file (see above); row skipped"
        fi
        rm -f "$row"
        if [ -n "$LLAMA_BENCH" ]; then
            # llama-bench's pp128 and tg64 are the same tests as our -p 128 -n 64
            # shellcheck disable=SC2086 # LLAMA_ARGS is a list of options
            if "${pin[@]}" "$LLAMA_BENCH" -m "$file" -t "$t" -r "$REPS" $LLAMA_ARGS -o md >"$row" 2>/dev/null; then
                skip=1; [ -s "$llama_table" ] && skip=3  # the header once
                grep '^|' "$row" | tail -n +"$skip" >>"$llama_table"
            else
                say "llama-bench failed on $file"
            fi
            rm -f "$row"
        fi
    done
done

{
    echo "# entroscope bench, $PRESET (random weights)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
    echo "- options: -r $REPS $BENCH_ARGS; tokens/s, median (min–max) of $REPS repetitions"
    if [ -n "$PIN_CPU" ]; then echo "- one-thread runs of both engines pinned to CPU $PIN_CPU"; fi
    if [ -n "$KERNELS" ]; then echo "- entroscope's kernels: $KERNELS (--kernels)"; fi
    echo
    cat "$table"
    if [ -s "$llama_table" ]; then
        echo
        echo "## llama.cpp (llama-bench $LLAMA_ARGS -r $REPS), same files"
        echo
        cat "$llama_table"
    fi
} >"$report"
if [ "$OUT" = - ]; then cat "$report"; else mv "$report" "$OUT"; say "wrote $OUT"; fi
