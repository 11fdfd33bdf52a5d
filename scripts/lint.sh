#!/usr/bin/env bash
# bash -n and shellcheck on every shell script of the project: slurm/, scripts/, tests/**.
# Run from anywhere; exits non-zero on the first finding.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob
scripts=(slurm/*.sh slurm/*.sbatch scripts/*.sh tests/**/*.sh)
for script in "${scripts[@]}"; do bash -n "$script"; done
shellcheck --external-sources "${scripts[@]}"  # `source=` paths are relative to the repository root
echo "lint: ${#scripts[@]} scripts clean"
