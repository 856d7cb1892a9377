#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine with Python 3.11:
# the apt packages for speech synthesis and audio tools, then a .venv with the package.
# Safe to rerun: each step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg_cmd in espeak-ng:espeak-ng flite:flite sox:sox; do
  command -v "${pkg_cmd#*:}" >/dev/null 2>&1 || need_apt+=("${pkg_cmd%%:*}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing apt packages: ${need_apt[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$python" -m venv .venv
fi
export PIP_CONSTRAINT="$PWD/constraints.txt" PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
if [ ! -e "$stamp" ]; then
  echo "setup: installing the package and its dependencies into .venv" >&2
  # torch first and pinned: the CPU wheel; any unpinned request would pull CUDA builds.
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e ".[dev,hybrid]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
