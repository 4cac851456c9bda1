# shellcheck shell=bash
# Shared helpers for the bash scripts under scripts/. Source it; do not run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Sets COMMONS_REPO_ROOT (the checkout that holds scripts/) and defines small
# helpers for output in the project's `error:` + `hint:` style.

# The repository root: one level above scripts/, resolved from this file's own
# location so that callers work from any current directory.
COMMONS_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
export COMMONS_REPO_ROOT

# The name used as a prefix on every message (the calling script's file name).
COMMONS_SCRIPT_NAME="$(basename "${0:-commons}")"

# info MSG...: a progress line on stderr (stdout stays free for machine output).
info() { printf '%s: %s\n' "$COMMONS_SCRIPT_NAME" "$*" >&2; }

# warn MSG...: a warning on stderr.
warn() { printf 'warning: %s\n' "$*" >&2; }

# die MSG [HINT]: print `error: MSG` (and `hint: HINT`) on stderr and exit 1.
die() {
  printf 'error: %s\n' "$1" >&2
  if [[ $# -ge 2 && -n "$2" ]]; then
    printf 'hint: %s\n' "$2" >&2
  fi
  exit 1
}

# need_cmd CMD [HINT]: fail clearly unless CMD is on PATH.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "required command '$1' was not found on PATH" "${2:-run scripts/bootstrap to install what the project needs}"
}

# sha256_of FILE: print the hex sha256 of FILE.
sha256_of() {
  local out
  out="$(sha256sum -- "$1")" || return 1
  printf '%s\n' "${out%% *}"
}

# file_size FILE: print the size of FILE in bytes.
file_size() { stat -c %s -- "$1"; }

# as_root CMD...: run CMD as root, through sudo only when not root already.
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "'$*' needs root and sudo is not installed" "run this script as root"
  fi
}

# now_ms: milliseconds since the epoch (for short timing lines).
now_ms() { date +%s%3N; }
