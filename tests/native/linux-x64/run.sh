#!/bin/sh
# Builds the x86-64 libAllocatorNative.so as AllocatorNative.targets does and runs the native C tests against it
# (the inline fast paths of fiber.h; the .NET fiber tests cover the exported functions). Needs gcc.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
native="$here/../../../src/Native"
out=${1:-$(mktemp -d)}
mkdir -p "$out"
cc=${CC:-gcc}
$cc -std=c11 -O2 -g -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror -Wl,--no-undefined -Wl,-z,noexecstack \
    -o "$out/libAllocatorNative.so" "$native/fiber.c" "$native/fiber_switch_x86_64_sysv.S"
# -rdynamic: backtrace's dladdr needs the test's own symbols too.
$cc -std=c11 -O2 -g -Wall -Wextra -Werror -I"$native" -rdynamic -o "$out/inline_fast_path_test" \
    "$here/../inline_fast_path_test.c" -L"$out" -lAllocatorNative -lm -Wl,-rpath,'$ORIGIN'
cd "$out"
./inline_fast_path_test
