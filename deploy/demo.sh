#!/usr/bin/env bash
# Set up (idempotently), then run the demo: a simulated Istio mesh scraped by a real
# Prometheus, a real Alertmanager, and MeshPulse watching both. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
exec .venv/bin/meshpulse demo "$@"
