#!/usr/bin/env bash
# Sourced by scripts/demo and scripts/test: makes a fresh Debian machine ready.
# Finds Python >= 3.11, installs missing system packages, builds .venv, installs treadctl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# System packages the tests and the demo need, as "command:debian-package".
SYSTEM_NEEDS=(${TREADCTL_SYSTEM_NEEDS:-})

say() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else say "need root to run: $*"; return 1
  fi
}

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    say "apt-get not found: install $* by hand"; return 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  say "installing system packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

find_python() {
  for cand in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  return 1
}

PY="$(find_python)" || { say "Python 3.11 or newer is required"; exit 1; }

# Debian splits venv and ensurepip out of python3.
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  apt_install "python${ver}-venv" || apt_install python3-venv
fi

# What a need checks: a command on PATH; a path pattern (starts with /: a program not on
# PATH, e.g. PostgreSQL's initdb); or a shared library (a .so name, from ldconfig).
have() {
  case "$1" in
    /*) compgen -G "$1" >/dev/null ;;
    *.so*) ldconfig -p 2>/dev/null | grep -q "$1" ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for need in "${SYSTEM_NEEDS[@]}"; do
  cmd="${need%%:*}"; pkg="${need##*:}"
  have "$cmd" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi

stamp="$VENV/.treadctl-installed"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating $VENV with $PY"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[dev]"
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
