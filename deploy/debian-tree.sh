#!/usr/bin/env bash
# Build (once) and print the path of a Debian bookworm tree for ARCH holding PACKAGES: the
# build trees of deploy/bundle.sh and the test trees of the emulated-board and fleet tests.
#
#   deploy/debian-tree.sh ARCH PACKAGES [CACHE_DIR]
#
#   ARCH      a Debian architecture: amd64, arm64, armhf (armel works too)
#   PACKAGES  a comma-separated --include list for debootstrap --variant=minbase
#   CACHE_DIR defaults to $RTU_TREE_CACHE or /var/cache/rtu-trees (outside any checkout)
#
# The tree's directory is named after ARCH and a hash of the package list and of TREE_VERSION,
# so a changed list builds a new tree and never touches one in use. It is built into NAME.tmp
# and renamed only when complete; concurrent callers wait for each other (flock). A foreign
# ARCH needs qemu-user-static with binfmt_misc entries carrying the F flag (Debian's
# qemu-user-static package registers them): debootstrap --foreign, then the second stage runs
# emulated inside the tree. The mirror: $RTU_DEBIAN_MIRROR, else the bookworm URI that apt uses
# here, else http://deb.debian.org/debian. Needs root and debootstrap. Prints the tree's path
# on stdout; everything else goes to stderr. Exit 2: this machine cannot build it (the reason
# is printed), 1: the build failed.
set -euo pipefail

TREE_VERSION=1
ARCH=${1:?usage: debian-tree.sh ARCH PACKAGES [CACHE_DIR]}
PACKAGES=${2:?usage: debian-tree.sh ARCH PACKAGES [CACHE_DIR]}
CACHE=${3:-${RTU_TREE_CACHE:-/var/cache/rtu-trees}}

say() { printf 'debian-tree: %s\n' "$*" >&2; }

mirror() {
    if [ -n "${RTU_DEBIAN_MIRROR:-}" ]; then
        echo "$RTU_DEBIAN_MIRROR"
        return
    fi
    local uri
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

# the binfmt_misc entry that runs ARCH's binaries here, if ARCH is not the machine's own
qemu_entry() {
    case $1 in
        arm64) echo qemu-aarch64 ;;
        armhf|armel) echo qemu-arm ;;
        *) echo "qemu-$1" ;;
    esac
}

[ "$(id -u)" -eq 0 ] || { say "needs root"; exit 2; }
command -v debootstrap >/dev/null || { say "debootstrap is not installed"; exit 2; }
HOST_ARCH=$(dpkg --print-architecture 2>/dev/null || echo unknown)
FOREIGN=0
if [ "$ARCH" != "$HOST_ARCH" ]; then
    FOREIGN=1
    entry=/proc/sys/fs/binfmt_misc/$(qemu_entry "$ARCH")
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    fi
    if [ ! -e "$entry" ] && command -v update-binfmts >/dev/null; then
        update-binfmts --enable "$(qemu_entry "$ARCH")" >/dev/null 2>&1 || true
    fi
    if [ ! -e "$entry" ]; then
        say "no binfmt_misc entry $entry: cannot run $ARCH binaries here (install" \
            "qemu-user-static; binfmt_misc must be mountable)"
        exit 2
    fi
    if ! grep -q '^enabled' "$entry" || ! grep -q '^flags:.*F' "$entry"; then
        say "$entry is disabled or lacks the F flag: $ARCH binaries cannot run in a chroot"
        exit 2
    fi
fi

KEY=$(printf '%s\n%s\n%s\n' "$TREE_VERSION" "$ARCH" "$PACKAGES" | sha256sum | cut -c1-12)
TREE="$CACHE/bookworm-$ARCH-$KEY"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-$ARCH-$KEY"
flock -w 3000 9 || { say "timed out waiting for another build of $TREE"; exit 1; }
if [ -f "$TREE/.rtu-tree-complete" ]; then
    echo "$TREE"
    exit 0
fi

MIRROR=$(mirror)
LOG="$CACHE/debootstrap-$ARCH-$KEY.log"
say "debootstrap bookworm/$ARCH from $MIRROR into $TREE (minutes; once; log $LOG)"
rm -rf "$TREE.tmp"
fail() {
    say "$1; the end of $LOG:"
    tail -n 20 "$LOG" >&2
    exit 1
}
if [ "$FOREIGN" = 1 ]; then
    debootstrap --arch="$ARCH" --foreign --variant=minbase --include="$PACKAGES" bookworm \
        "$TREE.tmp" "$MIRROR" >"$LOG" 2>&1 || fail "debootstrap (first stage) failed"
    chroot "$TREE.tmp" /debootstrap/debootstrap --second-stage >>"$LOG" 2>&1 \
        || fail "debootstrap (second stage, emulated $ARCH) failed"
else
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$TREE.tmp" "$MIRROR" \
        >"$LOG" 2>&1 || fail "debootstrap failed"
fi
systemd-machine-id-setup --root="$TREE.tmp" >/dev/null 2>&1 || true
echo "rtu-$ARCH" >"$TREE.tmp/etc/hostname"
rm -f "$TREE.tmp/etc/systemd/system/getty.target.wants/"* 2>/dev/null || true
rm -f "$TREE.tmp"/var/cache/apt/archives/*.deb 2>/dev/null || true
printf '%s\n' "$PACKAGES" >"$TREE.tmp/.rtu-tree-complete"
mv "$TREE.tmp" "$TREE"
say "ready: $TREE"
echo "$TREE"
