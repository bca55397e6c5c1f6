#!/usr/bin/env bash
# Checks that docs/vdm.md and the READMEs point only at things that exist:
#  - every "**Code:** `path` `name`, ..." line of docs/vdm.md: the path exists and
#    each further name occurs as a whole word in it (Class::method: both parts);
#  - every "**Test:** `path` "test name" ..." line: the path exists and each quoted
#    name is exactly a TEST_CASE name in that .cpp (for a .sh: occurs in it);
#  - every markdown link in docs/vdm.md, README.md, vdm/README.md, nn/README.md stays
#    inside the repository, its path exists (and is not ignored by git), and its
#    #anchor is a heading there;
#  - every citation docs/vdm.md#<anchor> in the repository's .h/.cpp/.cu/.sh/.md files
#    names a heading of docs/vdm.md;
#  - no file of the repository names the outside reference document or the folder
#    beside the repository, except the test-data lookups.
# Prints what it checked and one line "file:line: problem" per failure; exits 1 on any.
#
# usage: bash scripts/check_docs.sh [--doc FILE] [--also FILE]...
#   --doc FILE   check FILE in place of docs/vdm.md (same rules, links resolved as if
#                it were docs/vdm.md); the doc test uses it on broken copies
#   --also FILE  search FILE too for citations and outside references (the doc test)
#        bash scripts/check_docs.sh --slugs FILE   print "line anchor" per heading
# Anchors are GitHub's: the heading lowercased, characters other than letters, digits,
# spaces, hyphens and underscores dropped, spaces turned into hyphens; a repeated
# heading gets -1, -2, ...
set -u
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

# "line anchor" for each heading of a markdown file (outside fenced code blocks).
slugs() {
    awk '
        /^[ ]*(```|~~~)/ { fence = !fence; next }
        fence { next }
        /^#+ / {
            h = $0; sub(/\r$/, "", h)
            level = h; sub(/ .*/, "", level)
            if (length(level) > 6) next
            sub(/^#+ +/, "", h); sub(/ +#+ *$/, "", h)
            # [text](target) -> text
            while (match(h, /\[[^]]*\]\([^)]*\)/)) {
                inner = substr(h, RSTART + 1, RLENGTH - 1); sub(/\].*/, "", inner)
                h = substr(h, 1, RSTART - 1) inner substr(h, RSTART + RLENGTH)
            }
            s = tolower(h); gsub(/[^a-z0-9 _-]/, "", s); gsub(/ /, "-", s)
            if (s in seen) { n = seen[s]; seen[s] = n + 1; s = s "-" n } else seen[s] = 1
            print NR, s
        }' "$1"
}

doc=docs/vdm.md
extra_files=()
if [ $# -ge 1 ] && [ "$1" = "--slugs" ]; then
    [ $# -eq 2 ] || { echo "usage: $0 --slugs FILE" >&2; exit 2; }
    slugs "$2"
    exit
fi
while [ $# -ge 2 ]; do
    case $1 in
        --doc) doc=$2 ;;
        --also) extra_files+=("$2") ;;
        *) break ;;
    esac
    shift 2
done
if [ $# -ne 0 ]; then
    echo "usage: $0 [--doc FILE] [--also FILE]... | --slugs FILE" >&2
    exit 2
fi

failures=0
fail() {  # fail FILE:LINE MESSAGE
    echo "$1: $2"
    failures=$((failures + 1))
}

if [ ! -f "$doc" ]; then
    fail "$doc:0" "the document does not exist"
    echo "docs: checked nothing; $failures failure(s)"
    exit 1
fi

# The repository's files: tracked, plus new ones git does not ignore (outside a git
# work tree: every file but builds, data and runs).
in_git=0
git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=1
if [ "$in_git" = 1 ]; then
    mapfile -t repo_files < <(git -C "$root" ls-files --cached --others --exclude-standard |
                               while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done)
else
    mapfile -t repo_files < <(find . -type f -not -path './.git/*' -not -path './build/*' \
                               -not -path './data/*' -not -path './runs/*' | sed 's|^\./||')
fi
declare -A is_repo_file
for f in "${repo_files[@]}"; do is_repo_file[$f]=1; done
repo_files+=("${extra_files[@]}")

# The repository-relative path a path resolves to from a folder of the repository,
# or "" when it leads outside.
resolve() {  # resolve FROM_DIR PATH
    local full
    full=$(realpath -m -- "$root/$1/$2")
    case $full in
        "$root") echo . ;;
        "$root"/*) echo "${full#"$root"/}" ;;
        *) echo "" ;;
    esac
}

# Why a **Code:** or **Test:** path is not a file or folder of the repository ("" if it
# is). A file given with --also counts as one.
not_in_repo() {  # not_in_repo PATH
    local p=$1 rel f
    for f in "${extra_files[@]}"; do [ "$p" = "$f" ] && return; done
    rel=$(resolve . "$p")
    if [ -z "$rel" ] || [[ $p == /* ]]; then echo "$p is outside the repository"
    elif [ ! -e "$p" ]; then echo "$p does not exist"
    elif [ "$in_git" = 1 ] && [ -f "$p" ] && [ -z "${is_repo_file[$rel]:-}" ]; then
        echo "git ignores $p, so a clone will not have it"
    fi
}

# Lines of a markdown file outside fenced code blocks, as "line<TAB>text".
prose_lines() {
    awk '/^[ ]*(```|~~~)/ { fence = !fence; next } !fence { sub(/\r$/, ""); print NR "\t" $0 }' "$1"
}

# --- 1. **Code:** lines
code_lines=0 code_names=0
while IFS=$'\t' read -r line text; do
    code_lines=$((code_lines + 1))
    mapfile -t tokens < <(grep -o '`[^`]*`' <<<"$text" | tr -d '`')
    path=${tokens[0]}
    why=$(not_in_repo "$path")
    if [ -n "$why" ]; then
        fail "$doc:$line" "Code: $why"
        continue
    fi
    [ ${#tokens[@]} -ge 2 ] || fail "$doc:$line" "Code: $path names nothing in it"
    for name in "${tokens[@]:1}"; do
        code_names=$((code_names + 1))
        bare=${name%()}
        if ! [[ $bare =~ ^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_~][A-Za-z0-9_]*)*$ ]]; then
            fail "$doc:$line" "Code: \`$name\` is not a name (write Name or Class::method)"
            continue
        fi
        for part in ${bare//::/ }; do
            grep -rqw -- "$part" "$path" ||
                fail "$doc:$line" "Code: \`$name\`: $part does not occur as a word in $path"
        done
    done
done < <(prose_lines "$doc" | grep -E '\*\*Code:\*\* *`')

# --- 2. **Test:** lines
test_lines=0 test_names=0
while IFS=$'\t' read -r line text; do
    test_lines=$((test_lines + 1))
    path=$(grep -o '`[^`]*`' <<<"$text" | head -n 1 | tr -d '`')
    why=$(not_in_repo "$path")
    [ -z "$why" ] && [ ! -f "$path" ] && why="$path is not a file"
    if [ -n "$why" ]; then
        fail "$doc:$line" "Test: $why"
        continue
    fi
    rest=$(sed 's/`[^`]*`//g' <<<"$text")  # the quoted names, outside the code spans
    mapfile -t names < <(grep -o '"[^"]*"' <<<"$rest" | sed 's/^"//; s/"$//')
    [ ${#names[@]} -ge 1 ] || fail "$doc:$line" "Test: $path: no \"test name\" given"
    if [[ $path == *.sh ]]; then
        for name in "${names[@]}"; do
            test_names=$((test_names + 1))
            grep -qF -- "$name" "$path" || fail "$doc:$line" "Test: \"$name\" does not occur in $path"
        done
    else
        cases=$(grep -o 'TEST_CASE\(_TEMPLATE\)\?("[^"]*"' "$path" | sed 's/^[^"]*"//; s/"$//')
        for name in "${names[@]}"; do
            test_names=$((test_names + 1))
            grep -qxF -- "$name" <<<"$cases" ||
                fail "$doc:$line" "Test: \"$name\" is not a TEST_CASE of $path"
        done
    fi
done < <(prose_lines "$doc" | grep -E '\*\*Test:\*\* *`')

# --- 3. markdown links
# Whether markdown FILE has a heading with this anchor.
has_anchor() {  # has_anchor FILE ANCHOR
    slugs "$1" | awk -v a="$2" '$2 == a { found = 1 } END { exit !found }'
}
links=0
for file in "$doc" README.md vdm/README.md nn/README.md; do
    [ -f "$file" ] || { fail "$file:0" "does not exist"; continue; }
    dir=$(dirname "$file")
    [ "$file" = "$doc" ] && dir=docs  # a --doc copy resolves like docs/vdm.md
    # "line<TAB>target" for [text](target) and [label]: target, code spans removed.
    while IFS=$'\t' read -r line target; do
        links=$((links + 1))
        target=${target#<}; target=${target%>}
        target=${target%% *}  # drop a "title"
        case $target in
            *://* | mailto:* | /*)
                fail "$file:$line" "link $target leaves the repository"
                continue ;;
        esac
        path=${target%%#*}
        anchor=
        [[ $target == *#* ]] && anchor=${target#*#}
        if [ -z "$path" ]; then
            rel=$file; [ "$file" = "$doc" ] && rel=docs/vdm.md
        else
            rel=$(resolve "$dir" "$path")
            if [ -z "$rel" ]; then
                fail "$file:$line" "link $target leaves the repository"
                continue
            fi
        fi
        actual=$rel
        [ "$rel" = docs/vdm.md ] && actual=$doc
        if [ ! -e "$actual" ]; then
            fail "$file:$line" "link $target: $rel does not exist"
            continue
        fi
        if [ "$in_git" = 1 ] && [ -f "$actual" ] && [ "$actual" = "$rel" ] &&
           [ -z "${is_repo_file[$rel]:-}" ]; then
            fail "$file:$line" "link $target: git ignores $rel, so a clone will not have it"
            continue
        fi
        if [ -n "$anchor" ]; then
            if [[ $actual != *.md ]]; then
                fail "$file:$line" "link $target: an anchor into $rel, which is not markdown"
            elif ! has_anchor "$actual" "$anchor"; then
                fail "$file:$line" "link $target: $rel has no heading #$anchor"
            fi
        fi
    done < <(prose_lines "$file" | awk -F '\t' '{
                 line = $1; text = substr($0, length($1) + 2)
                 gsub(/`[^`]*`/, "", text)
                 if (match(text, /^ *\[[^]]*\]: */)) {
                     t = substr(text, RSTART + RLENGTH); sub(/ .*/, "", t); print line "\t" t
                     next
                 }
                 while (match(text, /\]\([^)]*\)/)) {
                     print line "\t" substr(text, RSTART + 2, RLENGTH - 3)
                     text = substr(text, RSTART + RLENGTH)
                 }
             }')
done

# --- 4. citations docs/vdm.md#<anchor> in the code and the docs
mapfile -t cite_files < <(printf '%s\n' "${repo_files[@]}" | grep -E '\.(h|cpp|cu|sh|md)$')
doc_slugs=$(slugs "$doc" | awk '{ print $2 }')
citations=0
while IFS= read -r hit; do
    where=${hit%:docs/vdm.md#*}
    anchor=${hit##*#}
    citations=$((citations + 1))
    grep -qxF -- "$anchor" <<<"$doc_slugs" || fail "$where" "cites docs/vdm.md#$anchor, no such heading"
done < <([ ${#cite_files[@]} -gt 0 ] && grep -onI 'docs/vdm\.md#[A-Za-z0-9_-]\+' -- "${cite_files[@]}")

# --- 5. nothing points outside the repository (the patterns are split so that this
# script does not match itself)
outside_ref="VDM_""REFERENCE" outside_dir="\.\./""shared/"
allowed='^(tests/test_idx\.cpp|tests/download_verify_test\.sh|\.ci/run|tests/docs_test\.sh):'
outside=0
while IFS= read -r hit; do
    outside=$((outside + 1))
    file=${hit%%:*} rest=${hit#*:}
    fail "$file:${rest%%:*}" "refers outside the repository: ${rest#*:}"
done < <([ ${#repo_files[@]} -gt 0 ] && grep -nIE -- "$outside_ref|$outside_dir" "${repo_files[@]}" |
         grep -Ev "$allowed" | cut -c1-200)

echo "docs: $code_lines Code lines ($code_names names), $test_lines Test lines ($test_names test" \
     "names), $links links, $citations citations of docs/vdm.md#..., ${#repo_files[@]} files" \
     "searched for outside references; $failures failure(s)"
[ "$failures" -eq 0 ]
