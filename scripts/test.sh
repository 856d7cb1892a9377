#!/usr/bin/env bash
# The README's test command: install what is needed, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The ONNX export tests run the graphs in onnxruntime and sherpa-onnx: the `onnx` extra.
stamp=.venv/.installed-onnx-$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
if [ ! -e "$stamp" ]; then
  echo "test: installing the onnx extra into .venv" >&2
  PIP_CONSTRAINT="$PWD/constraints.txt" PIP_DISABLE_PIP_VERSION_CHECK=1 .venv/bin/pip install -q -e ".[dev,onnx]"
  rm -f .venv/.installed-onnx-*
  touch "$stamp"
fi
exec .venv/bin/python -m pytest -q tests "$@"
