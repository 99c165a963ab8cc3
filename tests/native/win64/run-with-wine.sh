#!/bin/sh
# Builds the Win64 fiber switch and its smoke test with mingw-w64 and runs it under Wine (or prints the command
# to run on Windows). Needs: apt-get install gcc-mingw-w64-x86-64 wine64. Wine emulates the TEB, not all of Windows:
# a pass here is evidence, not proof, that the switch works on Windows.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
native="$here/../../../src/Native"
out=${1:-$(mktemp -d)}
mkdir -p "$out"
cc=x86_64-w64-mingw32-gcc
$cc -std=c11 -O2 -g -shared -Wall -Wextra -Werror -o "$out/AllocatorNative.dll" \
    -Wl,--out-implib,"$out/libAllocatorNative.dll.a" "$native/fiber.c" "$native/fiber_switch_x86_64_win64.S"
# -Wno-array-bounds: gcc 12 misreads mingw's __readgsqword (NtCurrentTeb) as an out-of-bounds access.
$cc -std=c11 -O2 -g -Wall -Wextra -Werror -Wno-array-bounds -I"$native" -o "$out/fiber_smoke_test.exe" \
    "$here/fiber_smoke_test.c" "$here/register_probe_x86_64_win64.S" -L"$out" -lAllocatorNative
$cc -std=c11 -O2 -g -Wall -Wextra -Werror -I"$native" -o "$out/inline_fast_path_test.exe" \
    "$here/../inline_fast_path_test.c" -L"$out" -lAllocatorNative
wine=$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)
cd "$out"
WINEDEBUG=-all WINEPREFIX="${WINEPREFIX:-$out/wineprefix}" "$wine" ./fiber_smoke_test.exe
WINEDEBUG=-all WINEPREFIX="${WINEPREFIX:-$out/wineprefix}" "$wine" ./inline_fast_path_test.exe
