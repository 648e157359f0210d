#!/usr/bin/env bash
# The layers include downwards only: runtime/ -> alloc/ -> gc/ -> api/.
#
#   a file in   may include from
#   runtime/    runtime/
#   alloc/      alloc/ runtime/
#   gc/         gc/ alloc/ runtime/
#   api/        api/ gc/ alloc/ runtime/
#
# (each included by its installed name: gcrt/runtime/, gcrt/alloc/,
# gcrt/gc/, and gcrt/ for api/), and none of them from the rest of the
# repository (tests/, benchmarks/,
# tools/, third_party/). Inside api/, the public headers (api/*.h and
# api/*.inc, what users include) include only api/ (their inline glue is
# in api/internal/) and runtime/base.h: the glue headers alone reach
# gc/, alloc/ and runtime/. System and library headers (<atomic>,
# <sys/mman.h>) are not judged. BUILD visibility already keeps a layer
# from depending on the targets above it; this checks the #include lines
# themselves, so a header that reaches upward fails here even where no
# build of it would.
#
# Usage: layering_test.sh FILE...   (every .h/.cc/.inc of the four layers,
# as paths from the workspace root; Bazel passes each layer's :sources).
# Prints every violation as file:line, the include, and what the file's
# layer may include; exits 1 if there is any.
set -uo pipefail

cd "${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-gcrt}" 2>/dev/null || true

readonly LAYERS="runtime alloc gc api"        # bottom up
readonly ABOVE_ALL="tests benchmarks tools third_party docs"

may_include() {  # the layers a file of layer $1 may include
  case $1 in
    runtime) echo "runtime" ;;
    alloc) echo "alloc runtime" ;;
    gc) echo "gc alloc runtime" ;;
    api) echo "api gc alloc runtime" ;;
    *) return 1 ;;
  esac
}

contains() {  # contains "<words>" word
  [[ " $1 " == *" $2 "* ]]
}

public_header() {  # public_header <file>: api/*.h or api/*.inc, not deeper
  [[ $1 =~ ^api/[^/]+\.(h|inc)$ ]]
}

if (($# == 0)); then
  echo "FAIL: no files given (the layers' :sources filegroups are empty?)"
  exit 1
fi

declare -A known files_per_layer
for f in "$@"; do known[$f]=1; done

violations=0
checked=0
for f in "$@"; do
  layer=${f%%/*}
  if ! allowed=$(may_include "$layer"); then
    echo "FAIL $f: not in one of the layers ($LAYERS)"
    violations=$((violations + 1))
    continue
  fi
  if [[ ! -f $f ]]; then
    echo "FAIL $f: not found"
    violations=$((violations + 1))
    continue
  fi
  files_per_layer[$layer]=$((${files_per_layer[$layer]:-0} + 1))
  dir=${f%/*}
  while IFS= read -r hit; do
    line=${hit%%:*}
    text=${hit#*:}
    if [[ ! $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*([\"\<])([^\"\>]+)[\"\>] ]]; then
      continue
    fi
    delim=${BASH_REMATCH[1]}
    path=${BASH_REMATCH[2]}
    target=$path
    if [[ $delim == '"' ]]; then
      # A quoted include is looked up beside the including file first.
      beside=$(realpath -m -s --relative-to=. "$dir/$path")
      if [[ -n ${known[$beside]:-} || $path == ../* ]]; then
        target=$beside
      fi
    fi
    [[ $target == */* ]] || continue  # a system header, or one beside it
    top=${target%%/*}
    # gcrt's own headers are included by their installed names, under the
    # gcrt/ prefix (a consumer's own runtime/ or gc/ cannot shadow them):
    # gcrt/runtime/, gcrt/alloc/, gcrt/gc/ are those layers, and the rest of
    # gcrt/ is api/.
    if contains "$LAYERS" "$top" && [[ $target == "$path" ]]; then
      echo "FAIL $f:$line: #include ${delim}${path}${delim/</>}: gcrt's" \
        "headers are included as gcrt/... (gcrt/runtime/base.h, gcrt/gc.h)"
      violations=$((violations + 1))
      continue
    fi
    if [[ $top == gcrt ]]; then
      target=${target#gcrt/}
      top=${target%%/*}
      contains "runtime alloc gc" "$top" || target=api/$target
      top=${target%%/*}
    fi
    if contains "$LAYERS" "$top"; then
      checked=$((checked + 1))
      if public_header "$f" && [[ $top != api && $target != runtime/base.h ]]
      then
        echo "FAIL $f:$line: #include ${delim}${path}${delim/</>}: a public" \
          "header includes only api/ (its glue through api/internal/) and" \
          "runtime/base.h"
        violations=$((violations + 1))
        continue
      fi
      contains "$allowed" "$top" && continue
    elif [[ $delim == '"' ]] && contains "$ABOVE_ALL" "$top"; then
      checked=$((checked + 1))
    else
      continue  # not the repository's
    fi
    echo "FAIL $f:$line: #include ${delim}${path}${delim/</>}" \
      "(${top}/): ${layer}/ may include only" \
      "$(sed 's/\([a-z_][a-z_]*\)/\1\//g; s/ /, /g' <<<"$allowed")"
    violations=$((violations + 1))
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$f")
done

for layer in $LAYERS; do
  if [[ -z ${files_per_layer[$layer]:-} ]]; then
    echo "FAIL: no file of $layer/ was given"
    violations=$((violations + 1))
  fi
done

if ((checked == 0)); then
  echo "FAIL: no include of gcrt's own headers was recognised"
  violations=$((violations + 1))
fi

if ((violations > 0)); then
  echo "$violations layering violation(s); the layers include downwards" \
    "only: runtime/ -> alloc/ -> gc/ -> api/ (and api/*.h only through" \
    "api/internal/)"
  exit 1
fi
echo "ok: $# files, $checked includes of the repository's own headers," \
  "all downwards, the public headers' through api/internal/"
