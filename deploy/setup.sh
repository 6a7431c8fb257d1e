#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian/Ubuntu machine: Prometheus and Alertmanager from
# Debian, a project venv in .venv with MeshPulse and its dev tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v chromium >/dev/null || need+=(chromium)  # dashboard browser tests (Playwright drives it)
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)  # second query engine in the e2e tests
[ -x "$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | head -n1)" ] || need+=(postgresql)  # shared store
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

py=python3
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    py=$candidate; break
  fi
done
[ -x .venv/bin/python ] || "$py" -m venv .venv

stamp=.venv/.meshpulse-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi
