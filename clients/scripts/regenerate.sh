#!/bin/sh
# Regenerate the typed client: dump the API's OpenAPI document to openapi.json
# with the project's Python, then generate src/generated/ from it.
# `make client` at the repository root does the same; run this from clients/.
set -eu
cd "$(dirname "$0")/.."
root=$(cd .. && pwd)
if [ -x "$root/.venv/bin/python" ]; then
  "$root/.venv/bin/python" scripts/dump_openapi.py
elif command -v uv >/dev/null 2>&1; then
  uv run --frozen --project "$root" python scripts/dump_openapi.py
elif [ -x "$root/.uv/bin/uv" ]; then
  "$root/.uv/bin/uv" run --frozen --project "$root" python scripts/dump_openapi.py
else
  echo "No Python environment for the API: run \`make .venv\` in $root first" >&2
  exit 1
fi
npm run generate
