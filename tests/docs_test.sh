#!/usr/bin/env bash
# The doc test: docs/vdm.md and the READMEs point only at things that exist
# (scripts/check_docs.sh: the files, function names and test names of every
# **Code:** and **Test:** line, every markdown link and anchor, every
# docs/vdm.md#<anchor> cited in the code, and no reference outside the repository).
# Then it shows the check can fail: on copies of docs/vdm.md with a cited function
# renamed (in the document, and in a copy of the code), a cited test case renamed, a
# link to a heading that does not exist, a heading that the code cites renamed, and
# a stray file citing a missing heading and pointing outside the repository, the
# checker must fail and name the file and line.
set -u
cd "$(dirname "$0")/.." || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }
pass() { echo "ok: $*"; }

# --- the repository as it is
if bash scripts/check_docs.sh; then
    pass "docs/vdm.md, its links and the code's citations are consistent"
else
    fail "scripts/check_docs.sh found the problems listed above"
fi
[ -f docs/vdm.md ] || { echo "FAIL: docs/vdm.md is missing"; exit 1; }

# expect_failure WHAT COPY EXPECTED [ARGS...]: the checker run on COPY (in place of
# docs/vdm.md, with ARGS) must exit 1 and print a failure line containing EXPECTED.
expect_failure() {
    local what=$1 copy=$2 expected=$3 out rc
    out=$(bash scripts/check_docs.sh --doc "$copy" "${@:4}" 2>&1); rc=$?
    if [ "$rc" -ne 1 ] || ! grep -qF -- "$expected" <<<"$out"; then
        fail "$what: expected exit 1 and a line with '$expected', got exit $rc:"
        printf '%s\n' "$out" | sed 's/^/    /'
    else
        pass "$what is caught: $(grep -F -- "$expected" <<<"$out" | head -n 1)"
    fi
}

# "line<TAB>text" of docs/vdm.md's lines outside fenced code blocks matching an ERE.
first_prose_line() {
    awk '/^[ ]*(```|~~~)/ { fence = !fence; next } !fence { print NR "\t" $0 }' docs/vdm.md |
        grep -E -m 1 -- "$1"
}

# --- a renamed function: the first name of the first **Code:** line, renamed in the
# document ("_renamed" appended), and renamed in (a copy of) the code it points at
hit=$(first_prose_line '\*\*Code:\*\* *`[^`]*`[^`]*`[^`]+`')
if [ -z "$hit" ]; then
    fail "docs/vdm.md has no **Code:** line naming a function"
else
    line=${hit%%$'\t'*}
    path=$(cut -f2- <<<"$hit" | grep -o '`[^`]*`' | sed -n 1p | tr -d '`')
    name=$(cut -f2- <<<"$hit" | grep -o '`[^`]*`' | sed -n 2p | tr -d '`')
    sed "${line}s/\`${name}\`/\`${name}_renamed\`/" docs/vdm.md >"$tmp/renamed_in_doc.md"
    expect_failure "$name renamed in the document (line $line)" "$tmp/renamed_in_doc.md" \
        "$tmp/renamed_in_doc.md:$line: Code: \`${name}_renamed\`"

    last=${name##*::}  # Class::method: rename the method
    copy="$tmp/$(basename "$path")"
    sed "s/\b${last}\b/${last}_renamed/g" "$path" >"$copy"
    sed "${line}s|\`${path}\`|\`${copy}\`|" docs/vdm.md >"$tmp/renamed_in_code.md"
    expect_failure "$name renamed in the code ($path copied to $copy)" "$tmp/renamed_in_code.md" \
        "$tmp/renamed_in_code.md:$line: Code: \`${name}\`: $last does not occur as a word in $copy" \
        --also "$copy"
fi

# --- a renamed test case: the first name of the first **Test:** line
hit=$(first_prose_line '\*\*Test:\*\* *`[^`]*`[^"]*"[^"]+"')
if [ -z "$hit" ]; then
    fail "docs/vdm.md has no **Test:** line naming a test case"
else
    line=${hit%%$'\t'*}
    name=$(cut -f2- <<<"$hit" | sed 's/`[^`]*`//g' | grep -o '"[^"]*"' | head -n 1 | tr -d '"')
    awk -v n="$line" -v old="\"$name\"" -v new="\"$name (renamed)\"" \
        'NR == n { i = index($0, old); $0 = substr($0, 1, i - 1) new substr($0, i + length(old)) } 1' \
        docs/vdm.md >"$tmp/renamed_test.md"
    expect_failure "test case \"$name\" renamed on line $line" "$tmp/renamed_test.md" \
        "$tmp/renamed_test.md:$line: Test: \"$name (renamed)\""
fi

# --- a link to a heading that does not exist
cp docs/vdm.md "$tmp/broken_anchor.md"
printf '\nSee [nowhere](#no-such-heading-here).\n' >>"$tmp/broken_anchor.md"
expect_failure "a link to a missing heading" "$tmp/broken_anchor.md" \
    "$tmp/broken_anchor.md:$(wc -l <"$tmp/broken_anchor.md"): link #no-such-heading-here"

# --- a heading the code cites, renamed: the first citation in vdm/*.h
cite=$(grep -onE 'docs/vdm\.md#[A-Za-z0-9_-]+' vdm/*.h | head -n 1)  # file:line:citation
anchor=${cite##*#}
line=$(bash scripts/check_docs.sh --slugs docs/vdm.md | awk -v a="$anchor" '$2 == a { print $1; exit }')
if [ -z "$anchor" ] || [ -z "$line" ]; then
    fail "no heading of docs/vdm.md is cited from vdm/*.h (citation '$cite')"
else
    sed "${line}s/\$/ renamed/" docs/vdm.md >"$tmp/renamed_heading.md"
    expect_failure "heading #$anchor renamed (line $line)" "$tmp/renamed_heading.md" \
        "${cite%%:docs/*}: cites docs/vdm.md#$anchor, no such heading"
fi

# --- a stray file that cites a heading that does not exist and points outside the
# repository (the names are assembled here so that this script does not cite them)
cp docs/vdm.md "$tmp/same.md"
stray="$tmp/stray.md"
{
    echo "cites docs/vdm.md""#no-such-heading-here"
    echo "and reads ../""shared/notes.md"
} >"$stray"
out=$(bash scripts/check_docs.sh --doc "$tmp/same.md" --also "$stray" 2>&1); rc=$?
if [ "$rc" -eq 1 ] && grep -qF "$stray:1: cites docs/vdm.md""#no-such-heading-here" <<<"$out" &&
   grep -qF "$stray:2: refers outside the repository" <<<"$out"; then
    pass "a stray citation and an outside reference are caught: $(grep -cF "$stray:" <<<"$out") lines"
else
    fail "a stray citation and an outside reference: expected exit 1 and two lines naming $stray, got exit $rc:"
    printf '%s\n' "$out" | sed 's/^/    /'
fi

exit $status
