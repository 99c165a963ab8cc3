#!/bin/sh
# Builds the aarch64 libAllocatorNative.so and its native tests with gcc-aarch64-linux-gnu and runs them under
# qemu-aarch64 (user mode), or natively on arm64 Linux. Needs: apt-get install gcc-aarch64-linux-gnu qemu-user.
# QEMU emulates the instruction set, not a particular core: a pass is evidence about the ABI handling, not timing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
native="$here/../../../src/Native"
out=${1:-$(mktemp -d)}
mkdir -p "$out"
if [ "$(uname -m)" = aarch64 ]; then cc=gcc; run=; else cc=aarch64-linux-gnu-gcc; run="qemu-aarch64 -L /usr/aarch64-linux-gnu"; fi
$cc -std=c11 -O2 -g -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror -Wl,--no-undefined -Wl,-z,noexecstack \
    -o "$out/libAllocatorNative.so" "$native/fiber.c" "$native/fiber_switch_aarch64_aapcs.S"
# -rdynamic: backtrace's dladdr needs the test's own symbols too.
$cc -std=c11 -O2 -g -Wall -Wextra -Werror -I"$native" -rdynamic -o "$out/fiber_test" \
    "$here/fiber_test.c" "$here/../register_probe_aarch64_aapcs.S" -L"$out" -lAllocatorNative -Wl,-rpath,'$ORIGIN'
$cc -std=c11 -O2 -g -Wall -Wextra -Werror -I"$native" -rdynamic -o "$out/inline_fast_path_test" \
    "$here/../inline_fast_path_test.c" -L"$out" -lAllocatorNative -lm -Wl,-rpath,'$ORIGIN'
cd "$out"
# The inline fast paths first: set -e stops here if they crash, so the run never ends in "all checks passed".
$run ./inline_fast_path_test
$run ./fiber_test
