#!/usr/bin/env bash
# Install archdsl with its test/verification extras, plus Graphviz's `dot` program
# (a system package) when this machine can install it. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v dot >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) || echo "setup.sh: could not install graphviz; diagrams other than .dot need it" >&2
    else
        echo "setup.sh: install Graphviz (the 'dot' program) for diagrams: apt-get install graphviz" >&2
    fi
fi
python -m pip install -q -e '.[test]'
