#!/usr/bin/env bash
# Fails (listing the files) when a tracked C++ file differs from what clang-format 14 makes of
# it with the committed .clang-format. `deploy/check-format.sh --fix` rewrites them instead.
# Pinned to version 14 (Debian 12's): other versions format some constructs differently.
set -euo pipefail
cd "$(dirname "$0")/.."
FORMAT=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$FORMAT" >/dev/null; then
  echo "check-format: $FORMAT not found (bash deploy/install-deps.sh installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cc' '*.h')
if [ "${1:-}" = "--fix" ]; then
  "$FORMAT" -i "${files[@]}"
  exit 0
fi
# One run over every file; each difference is reported as "FILE:LINE:COL: error: ...".
mapfile -t bad < <("$FORMAT" --dry-run --Werror "${files[@]}" 2>&1 |
  sed -n 's/^\([^: ]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u)
if [ ${#bad[@]} -gt 0 ]; then
  printf 'check-format: not formatted by %s (run: bash deploy/check-format.sh --fix):\n' "$FORMAT" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
