#!/usr/bin/env bash
# scripts/results_table.sh --quick on the tiny synthetic dataset (as both MNIST and
# Fashion-MNIST): every model of the table trains, evaluates, samples and is scored,
# and every row's bpd is finite (the script fails otherwise); the table lands in
# results.md. The same bpd definition for every row is tested in test_baselines.cpp.
cd "$(dirname "$0")/.."
source tests/cli_helpers.sh

mkdir -p "$tmp/root/mnist" "$tmp/root/fashion-mnist"
cp "$data"/* "$tmp/root/mnist/" && cp "$data"/* "$tmp/root/fashion-mnist/"
start=$(date +%s)
if VDM_DATA=$tmp/root VDM_APP_DIR=$apps bash scripts/results_table.sh --quick --threads 1 --out "$tmp/out" \
        >"$tmp/table.md" 2>"$tmp/table.err"; then
    rows=$(grep -cE '^\| (mnist|fashion) \|' "$tmp/table.md")
    if [ "$rows" -eq 10 ] && cmp -s <(tail -n +3 "$tmp/out/results.md") "$tmp/table.md"; then
        pass "results_table.sh --quick: 10 finite rows in $(($(date +%s) - start)) s, written to results.md"
    else
        fail "results_table.sh --quick: $rows rows; table: $(cat "$tmp/table.md")"
    fi
    grep -q '| mnist | VAE (-ELBO; -IWAE_K) |.*IWAE_5' "$tmp/table.md" && pass "the VAE row has its IWAE bound" \
        || fail "the VAE row lacks its IWAE bound: $(grep VAE "$tmp/table.md")"
else
    fail "results_table.sh --quick failed: $(tail -5 "$tmp/table.err")"
fi
# A row that is not finite fails the script: a stand-in train_baseline that reports NaN.
mkdir -p "$tmp/fake"
for app in train_mnist vdm_eval vdm_sample vdm_score train_classifier; do
    ln -s "$(cd "$apps" && pwd)/$app" "$tmp/fake/$app"
done
cat >"$tmp/fake/train_baseline" <<FAKE
#!/usr/bin/env bash
while [ \$# -gt 0 ]; do [ "\$1" = --out ] && out=\$2; shift; done
mkdir -p "\$out" && cp "$data/t10k-images-idx3-ubyte" "\$out/samples.idx"
echo '{"parameters": 1, "steps": 1, "batch": 1, "test_bpd": NaN, "test_bpd_stderr": 0, "samples": "s"}'
FAKE
chmod +x "$tmp/fake/train_baseline"
err=$(VDM_DATA=$tmp/root VDM_APP_DIR=$tmp/fake bash scripts/results_table.sh --quick --datasets mnist --threads 1 \
      --out "$tmp/out2" 2>&1 >/dev/null)
rc=$?
[ $rc -ne 0 ] && [[ $err == *"rows that are not finite"* ]] && pass "a NaN row fails the script (exit $rc)" \
    || fail "a NaN row: exit $rc, $(tail -3 <<<"$err")"
exit $status
