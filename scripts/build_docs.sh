#!/usr/bin/env bash
# Build the documentation site into site/ with `mkdocs build --strict` (every warning is an
# error). Installs the `docs` extra (mkdocs, mkdocs-material) first if mkdocs is missing.
#   scripts/build_docs.sh            # -> site/index.html
#   scripts/build_docs.sh OUT_DIR    # another output folder
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import mkdocs, material" >/dev/null 2>&1; then
    python -m pip install -q -e '.[docs]'
fi
# the generated pages must be current (they are also checked by the test suite)
PYTHONPATH=. python scripts/make_cli_doc.py --check
NO_MKDOCS_2_WARNING=1 python -m mkdocs build --strict -d "${1:-site}"
