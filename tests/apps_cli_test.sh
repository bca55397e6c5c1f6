#!/usr/bin/env bash
# The apps' command line: --help works, and bad flags or a missing data folder give
# exactly one line on stderr and exit status 1.
set -u
cd "$(dirname "$0")/.."
app=${VDM_APP_DIR:-.}/demo_mnist  # make test sets the variant's app folder
status=0

expect_error() {  # expect_error KEYWORD ARGS...: one-line error containing KEYWORD, exit 1
    local keyword=$1; shift
    local err rc
    err=$("$app" "$@" 2>&1 >/dev/null); rc=$?
    if [ "$rc" -ne 1 ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || [[ $err != *"$keyword"* ]]; then
        echo "FAIL: demo_mnist $* -> exit $rc, stderr: $err"; status=1
    else
        echo "ok: demo_mnist $* -> $err"
    fi
}

"$app" --help | grep -q -- '--steps' || { echo "FAIL: --help lists no --steps"; status=1; }
expect_error "not an integer" --steps abc
expect_error "outside" --steps 0
expect_error "not one of" --dataset cifar
expect_error "unknown flag" --stepz 10
expect_error "missing value" --steps
expect_error "does not exist" --data /nonexistent/vdm-data
exit $status
