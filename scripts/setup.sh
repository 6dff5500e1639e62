#!/usr/bin/env bash
# Creates .venv and installs memory-server into it; re-runs only when pyproject.toml changes.
# Everything it prints goes to stderr: when an MCP host runs scripts/serve, stdout is the protocol.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

extras="${1:-}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "memory-server needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv >&2

stamp=".venv/.installed${extras:+-$extras}"
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setting up .venv (first run takes a few minutes)..." >&2
  # torch first, pinned: any other route makes pip resolve a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}" >&2
  # Export the embedding model to ONNX once (verified; idempotent): no server imports torch.
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/memory-server model prepare >&2
  echo "$wanted" > "$stamp"
fi
