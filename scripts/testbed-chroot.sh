#!/usr/bin/env bash
# Builds the Debian bookworm chroots that hold the IMAP servers of the interop test bed which
# cannot be installed beside dovecot-imapd (they all provide and conflict on imap-server):
#   imap4d  GNU Mailutils imap4d 3.15   (mailutils-imap4d)
#   cyrus   Cyrus IMAP 3.6              (cyrus-imapd + SASL)
#   courier Courier-IMAP 5.0            (courier-imap + authlib userdb)
# Usage: scripts/testbed-chroot.sh [imap4d|cyrus|courier ...]   (default: all three)
# Each lands in $MAILFERRY_TESTBED_CACHE/<name>-chroot (default /var/cache/mailferry-testbed),
# built once, atomically (in a .building folder, renamed when complete), reused afterwards.
# tests/testbed/chroot.py starts the servers from there; nothing here starts a service.
# Needs root, debootstrap and the Debian mirror apt already uses. Exit 1 if anything fails.
set -euo pipefail

CACHE=${MAILFERRY_TESTBED_CACHE:-/var/cache/mailferry-testbed}
SUITE=bookworm
RECIPE=3  # bump when the package lists below change: ready chroots are rebuilt
declare -A PACKAGES=(
  [imap4d]="mailutils-imap4d"
  [cyrus]="cyrus-imapd cyrus-common sasl2-bin libsasl2-modules"
  [courier]="courier-imap courier-authlib-userdb courier-authdaemon"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(imap4d cyrus courier)

if [ "$(id -u)" -ne 0 ]; then
  echo "testbed-chroot: must run as root (debootstrap, chroot)" >&2
  exit 1
fi
for name in "${names[@]}"; do
  [ -n "${PACKAGES[$name]:-}" ] || { echo "testbed-chroot: unknown server '$name'" >&2; exit 1; }
done

# The mirror apt already uses on this machine (deb822 or one-line sources).
mirror=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
           | awk '{print $2}' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null \
           | awk '{print $2}' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi
mkdir -p "$CACHE"

# Runs a command inside a chroot with /proc mounted in a private mount namespace, so that
# nothing stays mounted on the host when it ends (even if it is killed).
in_chroot() {
  local root=$1; shift
  unshare --mount --propagation private --pid --fork --kill-child \
    sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$root" "$@"
}

build_base() {
  local base=$CACHE/base-chroot
  [ -f "$base/.mailferry-ready" ] && return 0
  rm -rf "$base.building"
  echo "testbed-chroot: debootstrap $SUITE from $mirror" >&2
  debootstrap --variant=minbase --include=ca-certificates,openssl "$SUITE" "$base.building" \
    "$mirror" >"$CACHE/base-debootstrap.log" 2>&1 \
    || { tail -n 30 "$CACHE/base-debootstrap.log" >&2; exit 1; }
  cat > "$base.building/etc/apt/apt.conf.d/90mailferry" <<'EOF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
  # no package starts its service: the fixtures start servers themselves
  printf '#!/bin/sh\nexit 101\n' > "$base.building/usr/sbin/policy-rc.d"
  chmod +x "$base.building/usr/sbin/policy-rc.d"
  touch "$base.building/.mailferry-ready"
  rm -rf "$base"
  mv "$base.building" "$base"
}

build_server() {
  local name=$1 root=$CACHE/$1-chroot
  if [ -f "$root/.mailferry-ready" ] && [ "$(cat "$root/.mailferry-ready")" = "$RECIPE" ]; then
    echo "testbed-chroot: $name ready in $root" >&2
    return 0
  fi
  build_base
  rm -rf "$root.building"
  cp -a "$CACHE/base-chroot" "$root.building"
  rm -f "$root.building/.mailferry-ready"
  cp /etc/resolv.conf "$root.building/etc/resolv.conf"
  echo "testbed-chroot: installing ${PACKAGES[$name]} into $root" >&2
  # shellcheck disable=SC2086
  in_chroot "$root.building" sh -c "export DEBIAN_FRONTEND=noninteractive &&
      apt-get update -qq && apt-get install -y -qq ${PACKAGES[$name]} && apt-get clean" \
    >"$CACHE/$name-install.log" 2>&1 \
    || { tail -n 30 "$CACHE/$name-install.log" >&2; exit 1; }
  mkdir -p "$root.building/srv/mf"  # the per-test folder is bind-mounted here
  in_chroot "$root.building" dpkg-query -W ${PACKAGES[$name]} > "$root.building/.mailferry-versions"
  echo "$RECIPE" > "$root.building/.mailferry-ready"
  rm -rf "$root"
  mv "$root.building" "$root"
  echo "testbed-chroot: $name ready in $root" >&2
}

for name in "${names[@]}"; do
  build_server "$name"
done
