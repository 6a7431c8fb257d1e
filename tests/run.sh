#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, lint, types, then unit, integration
# (real Prometheus and Alertmanager on loopback) and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
.venv/bin/ruff check detector tests bench
.venv/bin/ruff format --check detector tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
