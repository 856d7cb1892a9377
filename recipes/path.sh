# Sourced by every recipe's run.sh (egs/<corpus>/path.sh is a link to this file): the repo's .venv
# first on PATH, recipes/utils (run.pl, slurm.pl) on PATH, the repo on PYTHONPATH. The repo root is
# two levels above the egs/<corpus>/path.sh link (so the recipe works from any clone) unless
# ASR_ROOT is set, which lets a copy of a recipe dir elsewhere run against the repo.
ASR_ROOT=${ASR_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export ASR_ROOT
export PATH="$ASR_ROOT/.venv/bin:$ASR_ROOT/recipes/utils:$PATH"
export PYTHONPATH="$ASR_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export LC_ALL=C
