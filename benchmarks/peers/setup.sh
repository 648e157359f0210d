#!/usr/bin/env bash
# Installs the peers of the side-by-side comparison (benchmarks/peers/README
# in benchmarks/README.md), all from Debian: Go 1.19, Boehm GC 8.2, glibc
# malloc (already there), mimalloc, jemalloc, matplotlib for the plots, and
# V8's cppgc, which Debian ships inside libnode108. The machine's Node.js 20
# package blocks installing libnode108/libnode-dev, so both are downloaded
# and unpacked into third_party/cppgc/root (ignored by git); their runtime
# dependencies install normally. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/setup.sh

PACKAGES=(
  golang-go              # Go 1.19
  libgc-dev              # Boehm GC 8.2, threads and parallel marking
  libmimalloc-dev
  libjemalloc-dev
  gnuplot-nox            # the plots (matplotlib conflicts with Boost 1.81 via scipy)
  time                   # /usr/bin/time -v: peak RSS
  # libnode108's own dependencies, installed normally:
  libuv1 libicu72 libc-ares2 libnghttp2-14 libbrotli1 libssl3 zlib1g
)
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
updated=0
if ((${#missing[@]})); then
  echo "peers/setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

root=third_party/cppgc/root
if [[ ! -f $root/usr/include/nodejs/deps/v8/include/cppgc/heap.h ]]; then
  echo "peers/setup: unpacking libnode108 and libnode-dev into $root"
  if ((updated == 0)); then $SUDO apt-get update -qq; fi
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  (cd "$tmp" && apt-get download libnode108 libnode-dev >/dev/null)
  mkdir -p "$root"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$root"; done
  rm -rf "$tmp"
fi
# libnode-dev's libnode.so symlink, so `-lnode` finds the library.
lib=$root/usr/lib/x86_64-linux-gnu
if [[ ! -e $lib/libnode.so ]]; then ln -s libnode.so.108 "$lib/libnode.so"; fi
echo "peers/setup: ready"
