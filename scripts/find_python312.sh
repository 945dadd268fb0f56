#!/usr/bin/env bash
# Prints the directory holding a python3.12 for `sam build` (the functions' runtime),
# or nothing with exit status 1. Looks on PATH, then under pyenv.
# `make build` puts that directory first on PATH; without one, it builds in a
# container when Docker or Podman answers.
set -u

is_312() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1
}

if found=$(command -v python3.12 2>/dev/null) && is_312 "$found"; then
    dirname "$found"
    exit 0
fi

if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root 2>/dev/null)
    for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -t. -k3,3nr); do
        candidate="$root/versions/$version/bin/python3.12"
        if [ -x "$candidate" ] && is_312 "$candidate"; then
            dirname "$candidate"
            exit 0
        fi
    done
fi

for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    if [ -x "$candidate" ] && is_312 "$candidate"; then
        dirname "$candidate"
        exit 0
    fi
done
exit 1
