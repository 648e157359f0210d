#!/usr/bin/env bash
# Compiles every C++ code block of the documentation: README.md and
# docs/*.md (every page, design.md included; //:docs), read at test time,
# so a page and the API cannot drift apart.
#
# The convention (a page's author needs only this):
#
#   ```cpp            a whole translation unit: it #includes what it uses
#                     ("gcrt/gc.h", "gcrt/task.h", the standard headers)
#                     and declares everything it names. It needs no main().
#   ```cpp fragment   statements: compiled as the body of a function, after
#                     the fragment prelude below (gcrt/gc.h, gcrt/task.h, a
#                     few standard headers, and `Node` and `use`, which the
#                     pages' fragments share).
#
# Any other word after `cpp` (or `c++`, `cc`, `cxx`) fails the test, so
# no C++ block goes unchecked by a typo. A block that does not compile
# fails the test with the compiler's errors located in the page itself
# ("docs/threads.md:42:5: error: ..."), through #line directives. Indented
# (unfenced) code blocks are not read: the pages use them for shell.
#
# Each block is compiled with -std=c++20 -fsyntax-only against the headers
# laid out as an install lays them out (api/ as gcrt/, runtime/, alloc/ and
# gc/ as gcrt/runtime/, gcrt/alloc/, gcrt/gc/), as
# tests/api/compile_errors_test.sh does.
#
# Before the pages, the test checks itself on testdata/: good.md must pass,
# broken.md must fail naming the line of its error, so a harness that
# compiles nothing cannot pass.
set -uo pipefail
root="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-gcrt}"
[[ -f "$root/api/gc.h" ]] || root="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

include="$work/include"
mkdir -p "$include/gcrt"
for f in "$root"/api/*; do ln -s "$(realpath "$f")" "$include/gcrt/"; done
for layer in runtime alloc gc; do
  ln -s "$(realpath "$root/$layer")" "$include/gcrt/$layer"
done

# What a ```cpp fragment block is compiled after (then it goes into a
# function body).
fragment_prelude='#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/task.h"

struct Node {
  gc::Ptr<Node> left, right;
  int value = 0;
};
void use(const Node&);'

# extract <page> <dir>: writes <dir>/N.block (the block's lines, the
# fence's indentation removed) and a line "N <start line> <kind>" per C++
# block to stdout; kind is "-" for a whole translation unit. Fences of
# other languages are skipped whole (a ``` line inside one closes it, as
# Markdown has it). An unclosed C++ fence is reported as kind "unclosed".
extract() {
  awk -v dir="$2" '
    function flush_unclosed() {
      if (in_cpp) print n, start, "unclosed"
    }
    !in_fence && /^ *```/ {
      line = $0
      indent = match(line, /[^ ]/) - 1
      info = substr(line, indent + 4)
      sub(/^`*/, "", info)
      gsub(/^[ \t]+|[ \t]+$/, "", info)
      split(info, words, /[ \t]+/)
      lang = tolower(words[1])
      in_fence = 1
      in_cpp = (lang == "cpp" || lang == "c++" || lang == "cc" || lang == "cxx")
      if (in_cpp) {
        n++
        start = NR + 1
        kind = (words[2] == "") ? "-" : words[2]
        file = dir "/" n ".block"
        printf "" > file
      }
      next
    }
    in_fence && /^ *``` *$/ {
      if (in_cpp) {
        close(file)
        print n, start, kind
      }
      in_fence = 0
      in_cpp = 0
      next
    }
    in_cpp {
      line = $0
      for (i = 0; i < indent && substr(line, 1, 1) == " "; i++) {
        line = substr(line, 2)
      }
      print line > file
    }
    END { flush_unclosed() }
  ' "$1"
}

# check_page <page file> <name in messages>: compiles its blocks; prints a
# line per block; returns the number of failed blocks (0: all compiled).
check_page() {
  local page=$1 name=$2 dir
  dir=$(mktemp -d "$work/page.XXXX")
  local failed=0 n start kind
  while read -r n start kind; do
    local where="$name:$start" src="$dir/$n.cc"
    [[ $kind == - ]] && kind=whole
    case "$kind" in
      whole)
        { printf '#line %d "%s"\n' "$start" "$name"; cat "$dir/$n.block"; } \
          >"$src" ;;
      fragment)
        { printf '%s\n' "$fragment_prelude"
          printf 'void gcrt_docs_fragment_%d() {\n' "$n"
          printf '#line %d "%s"\n' "$start" "$name"
          cat "$dir/$n.block"
          printf '}\n'; } >"$src" ;;
      unclosed)
        echo "FAIL $where: a \`\`\`cpp block that is never closed"
        failed=$((failed + 1)); continue ;;
      *)
        echo "FAIL $where: \`\`\`cpp $kind: unknown kind (a whole translation" \
          "unit is \`\`\`cpp, statements are \`\`\`cpp fragment)"
        failed=$((failed + 1)); continue ;;
    esac
    if g++ -std=c++20 -fsyntax-only -I"$include" "$src" >"$src.log" 2>&1; then
      echo "ok   $where ($kind)"
    else
      echo "FAIL $where: the block does not compile:"
      head -40 "$src.log"
      failed=$((failed + 1))
    fi
  done < <(extract "$page" "$dir")
  return "$failed"
}

# The self-check: the harness compiles, and names a failing block's line.
here="$root/tests/docs/testdata"
self_failures=0
if ! check_page "$here/good.md" tests/docs/testdata/good.md >"$work/good.out"; then
  echo "FAIL self-check: testdata/good.md should compile:"
  cat "$work/good.out"
  self_failures=$((self_failures + 1))
elif [[ $(grep -c '^ok ' "$work/good.out") -ne 4 ]]; then
  echo "FAIL self-check: testdata/good.md has 4 C++ blocks; the harness saw:"
  cat "$work/good.out"
  self_failures=$((self_failures + 1))
fi
check_page "$here/broken.md" tests/docs/testdata/broken.md >"$work/broken.out"
broken_failed=$?
error_line=$(grep -n 'the error the self-check expects' "$here/broken.md" |
  cut -d: -f1)
if [[ $broken_failed -ne 3 ]]; then
  echo "FAIL self-check: testdata/broken.md has 3 bad blocks; the harness" \
    "found $broken_failed:"
  cat "$work/broken.out"
  self_failures=$((self_failures + 1))
elif ! grep -q "^tests/docs/testdata/broken.md:$error_line:.*error" \
    "$work/broken.out"; then
  echo "FAIL self-check: the compiler's error is not located at" \
    "testdata/broken.md:$error_line:"
  cat "$work/broken.out"
  self_failures=$((self_failures + 1))
else
  echo "ok   self-check (a good page passes, a broken one fails at its line)"
fi
[[ $self_failures -eq 0 ]] || exit 1

# The pages: //:docs, in the runfiles beside the headers.
source_tree=$root
[[ -f "$source_tree/README.md" ]] || {
  echo "FAIL no README.md at $source_tree (//:docs is a data dependency)"
  exit 1
}

failures=0
blocks=0
for page in "$source_tree/README.md" "$source_tree"/docs/*.md; do
  name=${page#"$source_tree/"}
  check_page "$page" "$name" >"$work/page.out"
  failures=$((failures + $?))
  cat "$work/page.out"
  blocks=$((blocks + $(grep -c '^ok \|^FAIL ' "$work/page.out")))
done
if [[ $blocks -eq 0 ]]; then
  echo "FAIL no C++ block found in README.md and docs/*.md"
  failures=$((failures + 1))
fi
echo "$blocks C++ blocks, $failures failed"
[[ $failures -eq 0 ]]
