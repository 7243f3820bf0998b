#!/usr/bin/env bash
# Build (once) and print the path of a minimal Debian bookworm root file system that boots
# under systemd-nspawn: the test bed of tests/integration/test_nspawn.py.
#
#   deploy/nspawn-rootfs.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $RTU_TEST_ROOTFS_CACHE or /var/cache/rtu-test-rootfs (outside the
# checkout, so that a fresh clone on the same machine reuses it). The tree is built with
# debootstrap --variant=minbase into CACHE_DIR/bookworm.tmp and renamed to CACHE_DIR/bookworm
# only when complete, so an interrupted build is never mistaken for a good one. Concurrent
# callers wait for each other (flock). The mirror is the one apt uses on this machine (first
# deb.debian.org-style URI of a "bookworm" suite in /etc/apt/sources.list(.d)), else
# $RTU_DEBIAN_MIRROR, else http://deb.debian.org/debian.
#
# The tree is never booted read-write by the test: it boots with --volatile=overlay, so it
# stays pristine. Bump ROOTFS_VERSION when the package list changes: the old tree is rebuilt.
# Needs root and debootstrap. Prints the tree's path on stdout; everything else on stderr.
set -euo pipefail

ROOTFS_VERSION=1
PACKAGES=systemd,systemd-sysv,dbus,udev,python3,python3-venv,procps,iproute2
CACHE=${1:-${RTU_TEST_ROOTFS_CACHE:-/var/cache/rtu-test-rootfs}}
TREE="$CACHE/bookworm"

say() { printf 'nspawn-rootfs: %s\n' "$*" >&2; }

mirror() {
    if [ -n "${RTU_DEBIAN_MIRROR:-}" ]; then
        echo "$RTU_DEBIAN_MIRROR"
        return
    fi
    local uri
    # deb822 sources first (bookworm's default), then one-line sources
    uri=$(awk '
        /^URIs:/ { u = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && u !~ /security/) { print u; exit } }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $3 == "bookworm" && $2 !~ /security/ { print $2; exit }' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

if [ "$(id -u)" -ne 0 ]; then
    say "needs root"
    exit 2
fi
command -v debootstrap >/dev/null || { say "debootstrap is not installed"; exit 2; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 900 9 || { say "timed out waiting for another build"; exit 1; }

if [ -f "$TREE/.rtu-rootfs-version" ] && [ "$(cat "$TREE/.rtu-rootfs-version")" = "$ROOTFS_VERSION" ]; then
    echo "$TREE"
    exit 0
fi

MIRROR=$(mirror)
say "debootstrap bookworm from $MIRROR into $TREE (a few minutes, once)"
rm -rf "$TREE.tmp"
if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$TREE.tmp" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1; then
    say "debootstrap failed; the end of $CACHE/debootstrap.log:"
    tail -n 20 "$CACHE/debootstrap.log" >&2
    exit 1
fi
# A machine id, so journald and the units that need one behave as on a real system; a
# hostname; no getty on the console (the test drives the container through nsenter).
systemd-machine-id-setup --root="$TREE.tmp" >/dev/null 2>&1 || true
echo rtu-nspawn-test >"$TREE.tmp/etc/hostname"
rm -f "$TREE.tmp/etc/systemd/system/getty.target.wants/"* 2>/dev/null || true
apt_clean=("$TREE.tmp"/var/cache/apt/archives/*.deb)
rm -f "${apt_clean[@]}" 2>/dev/null || true
echo "$ROOTFS_VERSION" >"$TREE.tmp/.rtu-rootfs-version"
rm -rf "$TREE"
mv "$TREE.tmp" "$TREE"
say "ready: $TREE"
echo "$TREE"
