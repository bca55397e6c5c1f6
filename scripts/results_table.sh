#!/usr/bin/env bash
# The results table: a VAE, a PixelCNN, DDPM and the VDM (linear and learned
# schedules) trained on MNIST and Fashion-MNIST with the same budget (steps x batch
# images seen), each evaluated on the test images in the same bits per dimension
# (nats / (D ln 2), 8-bit data, no dequantization), with a sample grid and the
# classifier Frechet distance (vdm_score) of its samples.
#
#   bash scripts/results_table.sh [--quick] [--steps N] [--batch B] [--datasets "mnist fashion"]
#                                 [--out DIR] [--threads T] [--test-n N]
#
# Defaults: 2000 steps at batch 64, both datasets, all 10000 test images (the VAE's
# IWAE_1000 bound on the first 1000), 64 samples per model, runs in runs/results/.
# --quick sizes everything down to seconds (tiny models, a few steps, 20 test images):
# the CI check that every row comes out finite. Prints the markdown table and writes it
# to DIR/results.md (the default DIR: runs/, so runs/results.md). Needs the apps built
# (make) and the datasets (--data is not passed: $VDM_DATA/<dataset> or ./data/<dataset>).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0 steps=2000 batch=64 datasets="mnist fashion" out=runs threads=0 test_n=0
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --steps) steps=$2; shift ;;
        --batch) batch=$2; shift ;;
        --datasets) datasets=$2; shift ;;
        --out) out=$2; shift ;;
        --threads) threads=$2; shift ;;
        --test-n) test_n=$2; shift ;;
        *) echo "results_table.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done
apps=${VDM_APP_DIR:-.}
for app in train_mnist vdm_eval vdm_sample vdm_score train_classifier train_baseline; do
    [ -x "$apps/$app" ] || { echo "results_table.sh: $apps/$app is missing: run make first" >&2; exit 1; }
done

# Sizes: the full budget, or seconds for --quick.
if [ $quick = 1 ]; then
    steps=3 batch=8 test_n=20
    vdm_size=(--channels 8 --blocks 1 --attention off --val-n 16 --eval-every 0)
    vae_size=(--channels 4 --latent 2 --iwae-k 5 --iwae-n 5)
    pixelcnn_size=(--channels 8 --blocks 1)
    classifier_steps=20 classifier_batch=8 samples=4 sample_steps=5 eval_batch=10
else
    vdm_size=(--eval-every 500)
    vae_size=(--iwae-k 1000 --iwae-n 1000)
    pixelcnn_size=()
    classifier_steps=3000 classifier_batch=128 samples=64 sample_steps=1000 eval_batch=100
fi
common=(--threads "$threads")
eval_n=()
[ "$test_n" -gt 0 ] && eval_n=(--n "$test_n")
baseline_n=()
[ "$test_n" -gt 0 ] && baseline_n=(--test-n "$test_n")

rows=$out/results/rows.jsonl
mkdir -p "$out/results"
: >"$rows"
row() {  # row DATASET MODEL PARAMS_JSON...: one JSON line per model
    python3 - "$@" >>"$rows" <<'EOF'
import json, sys
dataset, model, *parts = sys.argv[1:]
row = {}
for p in parts:
    row.update(json.loads(p))
row.update({"dataset": dataset, "model": model})
print(json.dumps(row))
EOF
}
last_json() { tail -n 1 "$1"; }

for dataset in $datasets; do
    folder=$([ "$dataset" = fashion ] && echo fashion-mnist || echo mnist)
    dir=$out/results/$dataset
    mkdir -p "$dir"
    echo "== $dataset: classifier for the Frechet distance ($classifier_steps steps)" >&2
    "$apps/train_classifier" --dataset "$folder" --steps "$classifier_steps" --batch "$classifier_batch" \
        --out "$dir/classifier.safetensors" \
        "${common[@]}" >"$dir/classifier.json" 2>"$dir/classifier.log"
    score() {  # score IDX: the JSON of vdm_score on those samples
        "$apps/vdm_score" --classifier "$dir/classifier.safetensors" --samples "$1" --dataset "$folder" \
            "${common[@]}" 2>>"$dir/score.log" | tail -n 1
    }

    for model in vae pixelcnn; do
        echo "== $dataset: $model, $steps steps x $batch" >&2
        size=()
        [ $model = vae ] && size=("${vae_size[@]}")
        [ $model = pixelcnn ] && size=("${pixelcnn_size[@]+"${pixelcnn_size[@]}"}")
        "$apps/train_baseline" --model $model --dataset "$dataset" --steps "$steps" --batch "$batch" \
            --sample-n "$samples" --out "$dir/$model" "${size[@]+"${size[@]}"}" "${baseline_n[@]+"${baseline_n[@]}"}" \
            "${common[@]}" >"$dir/$model.json" 2>"$dir/$model.log"
        row "$dataset" "$model" "$(last_json "$dir/$model.json")" "$(score "$dir/$model/samples.idx")"
    done

    for model in ddpm vdm-linear vdm-learned; do
        echo "== $dataset: $model, $steps steps x $batch" >&2
        case $model in
            ddpm) flags=(--schedule ddpm --loss discrete --T 1000 --objective simple) ;;
            vdm-linear) flags=(--schedule linear) ;;
            vdm-learned) flags=(--schedule learned) ;;
        esac
        "$apps/train_mnist" --dataset "$dataset" "${flags[@]}" --steps "$steps" --batch "$batch" --sample-n 0 \
            "${vdm_size[@]}" --out "$dir/$model" "${common[@]}" >"$dir/$model.json" 2>"$dir/$model.log"
        "$apps/vdm_eval" --ckpt "$dir/$model" --batch "$eval_batch" "${eval_n[@]+"${eval_n[@]}"}" "${common[@]}" \
            >"$dir/$model.eval.json" 2>"$dir/$model.eval.log"
        "$apps/vdm_sample" --ckpt "$dir/$model" --n "$samples" --steps "$sample_steps" --out "$dir/$model/samples.png" \
            --save-idx "$dir/$model/samples.idx" "${common[@]}" >"$dir/$model.sample.json" 2>"$dir/$model.sample.log"
        row "$dataset" "$model" "$(last_json "$dir/$model.json")" "$(last_json "$dir/$model.eval.json")" \
            "$(last_json "$dir/$model.sample.json")" "$(score "$dir/$model/samples.idx")" \
            "{\"samples\": \"$dir/$model/samples.png\", \"batch\": $batch, \"steps\": $steps}"
    done
done

# The table: every bpd through vdm/bpd.h's nats_to_bpd; a row whose bpd is not finite
# fails the script.
python3 - "$rows" "$out/results.md" "$quick" <<'EOF'
import json, math, sys
rows_path, md_path, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
names = {"vae": "VAE (-ELBO; -IWAE_K)", "pixelcnn": "PixelCNN (exact)", "ddpm": "DDPM (simple loss; full bound)",
         "vdm-linear": "VDM, linear schedule", "vdm-learned": "VDM, learned schedule"}
lines = ["| dataset | model | parameters | steps x batch | train time | test bpd | samples | classifier FID |",
         "|---|---|---:|---:|---:|---:|---|---:|"]
bad = []
for line in open(rows_path):
    r = json.loads(line)
    bpd = r.get("test_bpd", r.get("bpd"))
    err = r.get("test_bpd_stderr", r.get("bpd_stderr"))
    if bpd is None or not math.isfinite(bpd) or err is None or not math.isfinite(err):
        bad.append(f"{r['dataset']} {r['model']}: bpd {bpd} +- {err}")
        continue
    text = f"{bpd:.4f} ± {err:.4f}"
    if "iwae_bpd" in r:
        text += f"; IWAE_{r['iwae_k']} {r['iwae_bpd']:.4f} ± {r['iwae_bpd_stderr']:.4f} ({r['iwae_n']} images)"
    if "diffusion" in r and "prior" in r and r["model"] != "vae":
        text += f" (prior {r['prior']:.4f}, recon {r['recon']:.4f}, diffusion {r['diffusion']:.4f})"
    params = r.get("parameters", "")
    seconds = r.get("train_seconds", r.get("seconds", float("nan")))
    lines.append(f"| {r['dataset']} | {names[r['model']]} | {params} | {r['steps']} x {r['batch']} | "
                 f"{seconds / 60:.1f} min | {text} | `{r['samples']}` | {r['fid']:.2f} ± {r['fid_stderr']:.2f} |")
table = "\n".join(lines)
print(table)
with open(md_path, "w") as f:
    f.write(("Quick mode (tiny models, seconds): a check, not results.\n\n" if quick else "") + table + "\n")
if bad:
    print("results_table.sh: rows that are not finite:\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
