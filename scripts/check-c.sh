#!/usr/bin/env bash
# Checks the C of the data plane (bpf/) and of the test fixtures, as `npm run check` does:
#   1. format: every bpf/*.c, bpf/*.h, test/fixtures/*.c as .clang-format says
#      (clang-format-14 --dry-run --Werror); fix with `make -C bpf format`;
#   2. lint (`make -C bpf lint`): every object compiled with more warnings than the build
#      (-Wextra -Wshadow ..., as errors), every header compiled on its own (it includes what
#      it uses), clang-tidy-14 with .clang-tidy's checks.
# Prints what failed, where, and the command that fixes it; exits 1 when anything did.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'check-c: %s\n' "$*" >&2; }

CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
for tool in "$CLANG_FORMAT" "${CLANG_TIDY:-clang-tidy-14}" "${CLANG:-clang-14}"; do
  if ! command -v "$tool" >/dev/null; then
    say "$tool is not installed: run bash scripts/bootstrap.sh (or apt-get install ${tool##*/})"
    exit 1
  fi
done

failed=0

unformatted=()
for f in bpf/*.c bpf/*.h test/fixtures/*.c; do
  "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if ((${#unformatted[@]})); then
  for f in "${unformatted[@]}"; do
    say "$f is not formatted as .clang-format says; first difference:"
    "$CLANG_FORMAT" --dry-run --Werror "$f" 2>&1 | head -n 3 >&2 || true
  done
  say "fix: make -C bpf format   (reformats bpf/ and test/fixtures/ in place)"
  failed=1
fi

if ! make -s -C bpf lint; then
  say "C lint failed (see the file:line above): fix the code, or, for a false positive,"
  say "  silence that one line (// NOLINT(check-name): why). Rerun: make -C bpf lint"
  failed=1
fi

if ((failed)); then
  exit 1
fi
say "ok: format and lint of $(ls bpf/*.c bpf/*.h test/fixtures/*.c | wc -l) C files"
