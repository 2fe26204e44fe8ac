#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root) for mailferry's tests, demo and benchmarks:
# the Debian packages the real test servers need, then a venv in .venv with the project
# and its dev dependencies. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real servers the tests and the demo start on 127.0.0.1 (never as system services).
APT_PACKAGES=(
  dovecot-imapd dovecot-lmtpd   # IMAP test bed and LMTP upstreams for the relay
  isync                         # mbsync, a peer in bench/copy_bench.py
  knot knot-dnsutils            # authoritative DNS server for the planner's tests
  openssl ca-certificates       # throwaway TLS certificates for the test servers
  postgresql                    # the shared store of many machines (its tests start one)
  redis-server                  # the task queue's broker for distributed workers (tests start one)
  chromium                      # the dashboard's browser tests (Playwright drives it)
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d keeps the packages' own services from starting: tests run their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    remove_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "${remove_policy:-0}" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
# The packaged daemons are not needed; stop them if a package started them anyway.
for svc in dovecot knot postgresql redis-server; do
  command -v systemctl >/dev/null 2>&1 && systemctl disable --now "$svc" >/dev/null 2>&1 || true
done

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.mailferry-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
# bytecode written now, as a wheel's install does: where PYTHONDONTWRITEBYTECODE is set, every
# run would compile mailferry's modules again (~50 ms of each start, a fifth of a re-run)
.venv/bin/python -m compileall -q src >/dev/null
