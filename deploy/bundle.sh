#!/usr/bin/env bash
# Build an offline bundle: one archive with the project and every wheel it needs on a board of
# ARCH (Debian bookworm / Raspberry Pi OS bookworm, Python 3.11), so that the board installs
# with no network and no compiler:
#
#   deploy/bundle.sh [-o OUTDIR] ARCH      ARCH: arm64 | armhf | amd64 | armv6l
#   deploy/bundle.sh [-o OUTDIR] --native  for the machine it runs on (e.g. a Pi Zero)
#
# then, on the board:   tar xzf rtu-bundle-*.tar.gz && sudo rtu-bundle-*/deploy/install.sh
#
# How: in a cached Debian bookworm tree of ARCH (deploy/debian-tree.sh; a foreign ARCH runs
# under qemu-user through binfmt_misc, on an x86 machine with the internet) with gcc, the -dev
# headers (python3-dev, libsystemd-dev, libffi-dev) and a current pip and setuptools (bookworm's
# pip 23.0.1 and setuptools 66 cannot build RPi.GPIO and systemd-python), `pip wheel` builds
# the project with every extra except `test` (systemd, pi, gateway): wheels from PyPI where
# they exist for ARCH, built in the tree where they do not (systemd-python, spidev, RPi.GPIO;
# cffi on armhf). pip, setuptools and wheel are added, so the board needs neither python3-venv's
# ensurepip nor the internet. The build runs in systemd-nspawn with a throw-away overlay: the
# cached tree stays as built. pip's cache lives in $RTU_BUNDLE_CACHE/pip-ARCH.
#
# armv6l (Pi Zero, Pi 1): Debian has no armv6 architecture (its armhf is ARMv7), and the wheels
# Debian's armhf tree builds do not run on an ARMv6 CPU. Build that bundle with --native on a
# Raspberry Pi OS (32-bit) board, or point RTU_BUNDLE_TREE at a Raspberry Pi OS armhf tree.
#
# The archive is OUTDIR/rtu-bundle-VERSION-ARCH-KEY.tar.gz (one directory of the same name
# inside), KEY a hash of the project's files,
# pyproject.toml and this script: an unchanged project reuses the archive already there
# (printed on stdout; everything else on stderr). Needs root (debootstrap, nspawn) unless
# --native. Exit 2: this machine cannot build for ARCH (the reason is printed).
set -euo pipefail

BUNDLE_FORMAT=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$PWD
NATIVE=0
ARCH=
BUILD_PACKAGES=python3,python3-venv,python3-dev,gcc,pkg-config,libsystemd-dev,libffi-dev,ca-certificates
CACHE=${RTU_BUNDLE_CACHE:-/var/cache/rtu-bundle}

say() { printf 'bundle: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage() { echo "usage: $0 [-o OUTDIR] ARCH|--native   (ARCH: arm64 armhf amd64 armv6l)" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        -o) OUT=${2:?-o needs a directory}; shift ;;
        --native) NATIVE=1 ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        -*) usage ;;
        *) [ -z "$ARCH" ] || usage; ARCH=$1 ;;
    esac
    shift
done
if [ "$NATIVE" = 1 ]; then
    case $(uname -m) in
        aarch64) ARCH=arm64 ;; armv7l|armv8l) ARCH=armhf ;; armv6l) ARCH=armv6l ;;
        x86_64) ARCH=amd64 ;; *) ARCH=$(uname -m) ;;
    esac
fi
case $ARCH in
    arm64|armhf|amd64) ;;
    armv6l)
        if [ "$NATIVE" = 0 ] && [ -z "${RTU_BUNDLE_TREE:-}" ]; then
            say "armv6l: Debian has no ARMv6 architecture (its armhf wheels need ARMv7): run" \
                "'deploy/bundle.sh --native' on a Raspberry Pi OS 32-bit board, or set" \
                "RTU_BUNDLE_TREE to a Raspberry Pi OS armhf tree"
            exit 2
        fi ;;
    "") usage ;;
    *) say "unknown ARCH $ARCH (arm64, armhf, amd64, armv6l)"; exit 2 ;;
esac

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -n 1)
[ -n "$VERSION" ] || die "no version in $ROOT/pyproject.toml"
KEY=$( { echo "$BUNDLE_FORMAT $ARCH $BUILD_PACKAGES"; cd "$ROOT" && find pyproject.toml rtu hal \
        deploy/install.sh deploy/uninstall.sh deploy/99-rtu-serial.rules deploy/bundle.sh \
        systemd/rtu.service -type f -not -path '*/__pycache__/*' | LC_ALL=C sort \
        | xargs sha256sum; } | sha256sum | cut -c1-12)
NAME=rtu-bundle-$VERSION-$ARCH-$KEY  # the archive's one top directory has its name
ARCHIVE=$OUT/$NAME.tar.gz
mkdir -p "$OUT"
if [ -f "$ARCHIVE" ]; then
    say "up to date: $ARCHIVE"
    echo "$ARCHIVE"
    exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/$NAME
mkdir -p "$STAGE/wheels" "$STAGE/deploy" "$STAGE/systemd" "$STAGE/docs" "$WORK/src"
tar -C "$ROOT" --exclude=__pycache__ -cf - pyproject.toml README.md LICENSE rtu hal \
    | tar -C "$WORK/src" -xf -
EXTRAS=$(python3 - "$ROOT/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    extras = tomllib.load(f)["project"].get("optional-dependencies", {})
print(",".join(name for name in extras if name != "test"))
EOF
)

# What runs in the build tree (or natively): SRC OUT EXTRAS as arguments.
cat >"$WORK/build-wheels.sh" <<'EOF'
#!/bin/sh
set -eu
SRC=$1 OUT=$2 EXTRAS=$3
VENV=$(mktemp -d)/venv
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip "setuptools>=68" wheel
cp -r "$SRC" "$VENV/../src"  # pip writes build/ beside the sources
"$VENV/bin/python" -m pip wheel -q --disable-pip-version-check -w "$OUT" "$VENV/../src[$EXTRAS]"
"$VENV/bin/python" -m pip download -q --disable-pip-version-check --only-binary=:all: \
    -d "$OUT" pip "setuptools>=68" wheel
python3 -c 'import platform, sys; print("machine=%s\npython=%d.%d" % ((platform.machine(),) + sys.version_info[:2]))' \
    >"$OUT/../FACTS"
EOF
chmod +x "$WORK/build-wheels.sh"

if [ "$NATIVE" = 1 ]; then
    say "building the wheels for $ARCH on this machine (extras: $EXTRAS)"
    "$WORK/build-wheels.sh" "$WORK/src" "$STAGE/wheels" "$EXTRAS" \
        || die "building the wheels failed (gcc, python3-dev, libsystemd-dev, libffi-dev, pkg-config needed here)"
else
    [ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, systemd-nspawn); or --native"; exit 2; }
    command -v systemd-nspawn >/dev/null || { say "systemd-nspawn missing (Debian package systemd-container)"; exit 2; }
    if [ -n "${RTU_BUNDLE_TREE:-}" ]; then
        TREE=$RTU_BUNDLE_TREE
    else
        rc=0
        TREE=$("$ROOT/deploy/debian-tree.sh" "$ARCH" "$BUILD_PACKAGES") || rc=$?
        [ "$rc" -eq 0 ] || exit "$rc"
    fi
    mkdir -p "$CACHE/pip-$ARCH" "$WORK/out/wheels"
    # the host's trust store and proxy (pip in the tree reaches PyPI the way the host does)
    net=()
    ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
    [ -f "$ca" ] && net+=(--bind-ro="$ca:/etc/rtu-bundle-ca.crt" --setenv=PIP_CERT=/etc/rtu-bundle-ca.crt)
    for var in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy PIP_INDEX_URL; do
        [ -n "${!var:-}" ] && net+=("--setenv=$var=${!var}")
    done
    say "building the wheels for $ARCH in $TREE (extras: $EXTRAS; emulated: minutes)"
    if ! systemd-nspawn --quiet -D "$TREE" --register=no --keep-unit --volatile=overlay --resolv-conf=copy-host \
            --pipe --as-pid2 --bind-ro="$WORK/src:/rtu-src" --bind-ro="$WORK/build-wheels.sh:/build-wheels.sh" \
            --bind="$WORK/out:/rtu-out" --bind="$CACHE/pip-$ARCH:/root/.cache/pip" \
            --setenv=PIP_NO_INPUT=1 --setenv=HOME=/root "${net[@]}" \
            /build-wheels.sh /rtu-src /rtu-out/wheels "$EXTRAS" </dev/null >"$WORK/log" 2>&1; then
        tail -n 30 "$WORK/log" >&2
        die "building the wheels in $TREE failed"
    fi
    mv "$WORK/out/wheels/"* "$STAGE/wheels/"
    mv "$WORK/out/FACTS" "$STAGE/FACTS"
fi
MACHINE=$(sed -n 's/^machine=//p' "$STAGE/FACTS")
PYTHON=$(sed -n 's/^python=//p' "$STAGE/FACTS")
rm -f "$STAGE/FACTS"
[ -n "$MACHINE" ] && [ -n "$PYTHON" ] || die "the build did not report its machine and Python"
# Every compiled wheel must be for this machine: a wheel for another one would fail on the board
for wheel in "$STAGE"/wheels/*.whl; do
    case $wheel in
        *-none-any.whl) ;;
        *"$MACHINE"*|*abi3*"$MACHINE"*) ;;
        *) die "$(basename "$wheel") is not for $MACHINE" ;;
    esac
done
ls "$STAGE"/wheels/rtu_outstation-"$VERSION"-*.whl >/dev/null 2>&1 || die "no project wheel was built"

install -m 0755 "$ROOT/deploy/install.sh" "$ROOT/deploy/uninstall.sh" "$STAGE/deploy/"
install -m 0644 "$ROOT/deploy/99-rtu-serial.rules" "$STAGE/deploy/"
install -m 0644 "$ROOT/systemd/rtu.service" "$STAGE/systemd/"
cp "$ROOT"/docs/*.md "$STAGE/docs/"
cp "$ROOT/README.md" "$ROOT/LICENSE" "$STAGE/"
CONTENT=$(cd "$STAGE/wheels" && sha256sum -- *.whl | LC_ALL=C sort -k2 | sha256sum | cut -d' ' -f1)
cat >"$STAGE/BUNDLE" <<EOF
format=$BUNDLE_FORMAT
version=$VERSION
arch=$ARCH
machine=$MACHINE
python=$PYTHON
extras=$EXTRAS
content=$CONTENT
key=$KEY
EOF
(cd "$STAGE" && find . -type f ! -name SHA256SUMS -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum >SHA256SUMS)
tar -C "$WORK" -czf "$ARCHIVE.tmp" "$NAME"
mv "$ARCHIVE.tmp" "$ARCHIVE"
say "built $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1), $(ls "$STAGE"/wheels | wc -l) wheels for $MACHINE, Python $PYTHON)"
echo "$ARCHIVE"
