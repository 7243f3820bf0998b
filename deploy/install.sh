#!/usr/bin/env bash
# Install, upgrade or roll back the RTU outstation as a systemd service on Raspberry Pi OS /
# Debian bookworm: from an offline bundle (deploy/bundle.sh), from a checkout, or from a
# wheelhouse. Idempotent: a second run with the same software changes nothing.
#
#   sudo deploy/install.sh [--no-start] [--no-apt] [--wheelhouse DIR] [--extras LIST]
#                          [--allow-build|--no-build] [--no-hw-watchdog]
#   sudo /opt/rtu/current/share/deploy/install.sh --rollback
#
# Where it installs from: the directory this script is in is deploy/ of either
#   * a bundle (a file BUNDLE beside deploy/, wheels in wheels/): offline, never builds;
#   * a checkout (pyproject.toml, rtu/): from PyPI, or from --wheelhouse DIR offline.
#
#   1. Debian packages: python3 (and python3-venv when there is no pip wheel to bootstrap
#      from). Compilers and -dev headers (gcc, pkg-config, python3-dev, libsystemd-dev,
#      libffi-dev) only when an extra has no wheel for this board AND building is allowed:
#      never from a bundle or wheelhouse (a production board gets wheels built elsewhere);
#      from a checkout by default (--no-build: fail instead; --allow-build: the default).
#      --no-apt: none at all.
#   2. The system user `rtu` (home /var/lib/rtu, no login), in those of the groups dialout,
#      gpio, spi, i2c that exist here.
#   3. A release: /opt/rtu/releases/VERSION-ID/venv with the package, then each extra on its
#      own: systemd (sd_notify and the journal through libsystemd), and pi on a Raspberry Pi
#      (--extras LIST or RTU_EXTRAS=LIST, comma-separated, "" for none, overrides). An extra
#      that cannot be installed FAILS THE INSTALL, naming the package and why: nothing is
#      switched, the running release keeps running. ID is a hash of what is installed, so the
#      same bundle twice is the same release (nothing rebuilt).
#   4. The new release must accept /etc/rtu/rtu.toml (`rtu check`) before it is switched to.
#      Then /opt/rtu/current -> it, /opt/rtu/previous -> the release it replaces (older ones
#      are deleted), /opt/rtu/venv -> current/venv (the unit's ExecStart), and
#      /usr/local/bin/rtu -> /opt/rtu/venv/bin/rtu (on PATH for root and the rtu group).
#   5. The release's systemd/rtu.service -> /etc/systemd/system/rtu.service.
#   6. /etc/rtu/rtu.toml ONLY if there is none: the bench profile (simulated field, 104 on
#      127.0.0.1:2404) with the event journal on. An existing file is never touched.
#   7. The udev rule (stable /dev/rtu-rs485-* names for USB RS-485 adapters); udev reloads.
#   8. The board's hardware watchdog, when it has one (/dev/watchdog0): systemd pets it
#      (/etc/systemd/system.conf.d/rtu-watchdog.conf: RuntimeWatchdogSec=15s) so that a hung
#      kernel or PID 1 resets the board. --no-hw-watchdog: leave systemd's setting alone.
#   9. daemon-reload, enable, and (unless --no-start) start, or restart when the release
#      changed. A release that does not come up active is rolled back at once (exit 1).
#
# --rollback: switch current and previous (the software only: /etc/rtu and /var/lib/rtu stay;
# refused with the reason when the previous release cannot read the state directory's format),
# then restart. Run it again to roll forward. deploy/uninstall.sh removes the software and
# keeps /etc/rtu and /var/lib/rtu. Exit codes: 0 done, 1 failed (message on stderr), 2 usage.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
PREFIX=/opt/rtu
RELEASES=$PREFIX/releases
ETC=/etc/rtu
STATE=/var/lib/rtu
UNIT=/etc/systemd/system/rtu.service
RULES=/etc/udev/rules.d/99-rtu-serial.rules
BIN_LINK=/usr/local/bin/rtu
HW_WATCHDOG_CONF=/etc/systemd/system.conf.d/rtu-watchdog.conf
HW_WATCHDOG_SEC=${RTU_HW_WATCHDOG_SEC:-15s}
USER_NAME=rtu
GROUPS_WANTED=(dialout gpio spi i2c)
BUILD_PACKAGES=(gcc pkg-config python3-dev libsystemd-dev libffi-dev)

START=1
APT=1
WHEELHOUSE=
ROLLBACK=0
ALLOW_BUILD=
HW_WATCHDOG=1
EXTRAS_SET=${RTU_EXTRAS+x}
EXTRAS=${RTU_EXTRAS:-}
usage() {
    echo "usage: $0 [--no-start] [--no-apt] [--wheelhouse DIR] [--extras LIST] [--allow-build|--no-build]" \
         "[--no-hw-watchdog] | --rollback" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
        --no-start) START=0 ;;
        --no-apt) APT=0 ;;
        --wheelhouse) WHEELHOUSE=${2:?--wheelhouse needs a directory}; shift ;;
        --extras) EXTRAS=${2?--extras needs a list}; EXTRAS_SET=x; shift ;;
        --allow-build) ALLOW_BUILD=1 ;;
        --no-build) ALLOW_BUILD=0 ;;
        --no-hw-watchdog) HW_WATCHDOG=0 ;;
        --rollback) ROLLBACK=1 ;;
        -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
        *) usage ;;
    esac
    shift
done

say() { printf 'install: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
systemd_running() { [ -d /run/systemd/system ]; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"

# Atomically point LINK at TARGET (a relative target stays relative).
relink() {
    ln -sfn "$1" "$2.new"
    mv -T "$2.new" "$2"
}
release_of() { [ -L "$1" ] && basename "$(readlink "$1")"; }

apt_install() {
    [ "$APT" = 1 ] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null || return 1
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -qq -o DPkg::Lock::Timeout=120 update >/dev/null || say "apt-get update failed; going on"
    apt-get -qq -o DPkg::Lock::Timeout=120 install -y --no-install-recommends "${missing[@]}" \
        >/dev/null || { say "could not install all of: ${missing[*]}"; return 1; }
}

# The highest state-directory format the release in $1 reads, and the directory's own.
release_state_format() {
    "$1/venv/bin/python" -c 'from rtu.statedir import STATE_FORMAT; print(STATE_FORMAT)' \
        2>/dev/null || echo 0
}
state_format() {
    local words
    [ -f "$STATE/FORMAT" ] || { echo 0; return; }
    read -r -a words <"$STATE/FORMAT" || true
    echo "${words[1]:-0}"
}

service_up() {
    # active (not activating, failed or restarting) and still so a moment later
    for _ in $(seq 1 60); do
        case $(systemctl is-active rtu.service 2>/dev/null || true) in
            active) sleep 1; systemctl is-active --quiet rtu.service && return 0 ;;
            failed) return 1 ;;
        esac
        sleep 0.5
    done
    return 1
}

restart_service() {
    systemctl daemon-reload
    systemctl enable --quiet rtu.service
    [ "$START" = 1 ] || return 0
    systemctl reset-failed rtu.service 2>/dev/null || true
    say "(re)starting rtu.service"
    systemctl restart rtu.service || true
    service_up
}

# Point current at release $1 and previous at $2 ("" for none), with the unit of release $1.
switch_to() {
    local new=$1 old=$2
    [ -n "$old" ] && relink "releases/$old" "$PREFIX/previous"
    [ -z "$old" ] && rm -f "$PREFIX/previous"
    relink "releases/$new" "$PREFIX/current"
    if [ -d "$PREFIX/venv" ] && [ ! -L "$PREFIX/venv" ]; then
        say "replacing $PREFIX/venv of the installer before releases (it cannot be rolled back to)"
        rm -rf "$PREFIX/venv"
    fi
    relink current/venv "$PREFIX/venv"
    install -d -m 0755 "$(dirname "$BIN_LINK")"
    relink "$PREFIX/venv/bin/rtu" "$BIN_LINK"
    install -m 0644 "$RELEASES/$new/share/systemd/rtu.service" "$UNIT"
    install -d -m 0755 "$PREFIX/docs"
    cp -f "$RELEASES/$new/share/docs/"*.md "$PREFIX/docs/" 2>/dev/null || true
}

# -- --rollback ------------------------------------------------------------------------------
if [ "$ROLLBACK" = 1 ]; then
    cur=$(release_of "$PREFIX/current") || die "no release installed ($PREFIX/current)"
    prev=$(release_of "$PREFIX/previous") || die "no previous release to roll back to"
    [ -x "$RELEASES/$prev/venv/bin/rtu" ] || die "$RELEASES/$prev is incomplete"
    reads=$(release_state_format "$RELEASES/$prev")
    found=$(state_format)
    if [ "$found" -gt "$reads" ]; then
        die "$prev reads state formats up to $reads, but $STATE is format $found (written by" \
            "$cur): not rolled back. Move $STATE aside first if losing its journal is acceptable."
    fi
    if [ -f "$ETC/rtu.toml" ] && ! "$RELEASES/$prev/venv/bin/rtu" check "$ETC/rtu.toml" >&2; then
        die "$prev does not accept $ETC/rtu.toml: not rolled back"
    fi
    say "rolling back from $cur to $prev"
    switch_to "$prev" "$cur"
    if systemd_running; then
        restart_service || die "rtu.service is not active on $prev: journalctl -u rtu"
    fi
    say "done: current $prev, previous $cur (run --rollback again to return)"
    exit 0
fi

# -- where from ------------------------------------------------------------------------------
KIND=
if [ -f "$SRC/BUNDLE" ] && [ -d "$SRC/wheels" ]; then
    KIND=bundle
    WHEELHOUSE=$SRC/wheels
    bundle_arch=$(sed -n 's/^machine=//p' "$SRC/BUNDLE")
    bundle_py=$(sed -n 's/^python=//p' "$SRC/BUNDLE")
    here_arch=$(uname -m)
    if [ -n "$bundle_arch" ] && [ "$bundle_arch" != "$here_arch" ] \
        && ! { [ "$bundle_arch" = armv7l ] && [ "$here_arch" = armv8l ]; }; then
        die "this bundle is for $bundle_arch, this machine is $here_arch: use that bundle"
    fi
elif [ -f "$SRC/pyproject.toml" ] && [ -d "$SRC/rtu" ]; then
    KIND=checkout
else
    die "$SRC is neither a bundle (BUNDLE, wheels/) nor an rtu checkout"
fi

# a checkout may build what PyPI has no wheel for (a developer's machine); a bundle never
[ -n "$ALLOW_BUILD" ] || { [ "$KIND" = checkout ] && ALLOW_BUILD=1 || ALLOW_BUILD=0; }

# -- 1. Debian packages ------------------------------------------------------------------------
PIP_WHEEL=
[ -n "$WHEELHOUSE" ] && PIP_WHEEL=$(ls "$WHEELHOUSE"/pip-*-py3-none-any.whl 2>/dev/null | tail -n 1 || true)
wanted=(python3)
[ -z "$PIP_WHEEL" ] && wanted+=(python3-venv)
apt_install "${wanted[@]}" || true
command -v python3 >/dev/null || die "python3 is missing (Debian package python3)"
if [ "$KIND" = bundle ] && [ -n "${bundle_py:-}" ]; then
    here_py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [ "$here_py" = "$bundle_py" ] || die "this bundle holds wheels for Python $bundle_py," \
        "this machine has $here_py: build a bundle on this distribution"
fi

# -- 2. user and groups ------------------------------------------------------------------------
if ! getent passwd "$USER_NAME" >/dev/null; then
    say "creating system user $USER_NAME"
    useradd --system --user-group --home-dir "$STATE" --no-create-home \
        --shell /usr/sbin/nologin --comment "RTU outstation" "$USER_NAME"
fi
for group in "${GROUPS_WANTED[@]}"; do
    if getent group "$group" >/dev/null; then
        id -nG "$USER_NAME" | tr ' ' '\n' | grep -qx "$group" || usermod -a -G "$group" "$USER_NAME"
    fi
done

# -- 3. the release ----------------------------------------------------------------------------
if [ -z "$EXTRAS_SET" ]; then
    EXTRAS=systemd
    if grep -qs "Raspberry Pi" /proc/device-tree/model; then
        EXTRAS=systemd,pi  # gpiod, RPi.GPIO, spidev, smbus2 for the board's own I/O
    fi
fi
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
install -d "$STAGE/dist"
if [ "$KIND" = checkout ]; then
    # build from a copy: the checkout may be read-only, and pip would leave build/ in it
    tar -C "$SRC" --exclude=__pycache__ -cf - pyproject.toml README.md LICENSE rtu hal \
        | tar -C "$STAGE" -xf -
    VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SRC/pyproject.toml" | head -n 1)
    CONTENT=$(cd "$STAGE" && find pyproject.toml rtu hal -type f | LC_ALL=C sort \
        | xargs sha256sum | sha256sum | cut -c1-12)
else
    VERSION=$(sed -n 's/^version=//p' "$SRC/BUNDLE")
    CONTENT=$(sed -n 's/^content=//p' "$SRC/BUNDLE" | cut -c1-12)
fi
[ -n "$VERSION" ] && [ -n "$CONTENT" ] || die "cannot tell the version of $SRC"
ID="$VERSION-$(printf '%s %s' "$CONTENT" "$EXTRAS" | sha256sum | cut -c1-10)"
NEW=$RELEASES/$ID
CURRENT=$(release_of "$PREFIX/current" || true)

pip_in() {
    local opts=(--disable-pip-version-check -q --find-links "$STAGE/dist")
    [ -n "$WHEELHOUSE" ] && opts+=(--no-index --find-links "$WHEELHOUSE")
    "$NEW/venv/bin/python" -m pip install "${opts[@]}" "$@"
}

# The requirements of the extra $1 of the installed package, one a line, markers kept.
extra_requirements() {
    "$NEW/venv/bin/python" - "$1" <<'EOF'
import importlib.metadata as md, re, sys
extra = sys.argv[1]
for req in md.requires("rtu-outstation") or []:
    name, _, marker = req.partition(";")
    if re.search(r'extra\s*==\s*"%s"' % re.escape(extra), marker):
        rest = re.sub(r'(\s*and\s*)?extra\s*==\s*"[^"]*"(\s*and\s*)?', "", marker).strip()
        print(name.strip() + ("; " + rest if rest else ""))
EOF
}

# Install the extra $1 of the project wheel; on failure say which package failed and why.
install_extra() {
    local extra=$1 log req failed=()
    local binary=(--only-binary=:all:)
    log=$(mktemp)
    if [ -z "$WHEELHOUSE" ] && [ "$ALLOW_BUILD" = 1 ]; then
        binary=()
        if ! pip_in --only-binary=:all: "${PROJECT_WHEEL}[$extra]" >"$log" 2>&1; then
            say "extra $extra: PyPI has no wheel for this board for all of it: building" \
                "(--no-build forbids it)"
            apt_install "${BUILD_PACKAGES[@]}" || true
        fi
    fi
    if pip_in "${binary[@]}" "${PROJECT_WHEEL}[$extra]" >"$log" 2>&1; then
        rm -f "$log"
        return 0
    fi
    while IFS= read -r req; do  # which of them: each alone
        [ -n "$req" ] || continue
        pip_in "${binary[@]}" "$req" >>"$log" 2>&1 || failed+=("${req%%;*}")
    done < <(extra_requirements "$extra")
    say "FAILED: extra '$extra' cannot be installed on this $(uname -m) board:" \
        "${failed[*]:-see the pip lines below}"
    if [ -n "$WHEELHOUSE" ]; then
        say "  $WHEELHOUSE has no usable wheel for it (a bundle for this board's architecture" \
            "has: deploy/bundle.sh ARCH)"
    elif [ "$ALLOW_BUILD" = 0 ]; then
        say "  PyPI has no wheel of it for this board: install from a bundle (deploy/bundle.sh)," \
            "or let the board build it: without --no-build (installs gcc and -dev headers)"
    fi
    grep -iE 'error|no matching|could not' "$log" | tail -n 8 | sed 's/^/  pip: /' >&2 || true
    rm -f "$log"
    return 1
}

if [ -n "$CURRENT" ] && [ "$CURRENT" = "$ID" ] && [ -f "$NEW/.complete" ]; then
    say "release $ID is already current: nothing to install"
    CHANGED=0
elif [ -f "$NEW/.complete" ]; then
    say "release $ID is already installed: switching to it"
    CHANGED=1
else
    CHANGED=1
    install -d -m 0755 "$PREFIX" "$RELEASES"
    # built in place (a venv cannot move); .complete, written last, marks it whole
    rm -rf "$NEW"
    install -d -m 0755 "$NEW"
    say "installing release $ID into $NEW (extras: ${EXTRAS:-none})"
    if [ -n "$PIP_WHEEL" ]; then
        # no ensurepip needed (python3-venv): pip comes from its wheel in the bundle
        python3 -m venv --without-pip "$NEW/venv" || die "python3 -m venv failed"
        "$NEW/venv/bin/python" "$PIP_WHEEL/pip" install -q --disable-pip-version-check \
            --no-index --find-links "$WHEELHOUSE" pip \
            || die "cannot install pip into the venv from $PIP_WHEEL"
    else
        python3 -m venv "$NEW/venv" || die "python3 -m venv failed: install python3-venv"
    fi
    if [ -z "$WHEELHOUSE" ]; then
        # bookworm's pip 23.0.1 cannot build some sdists (RPi.GPIO, systemd-python) without
        # --use-pep517: a current pip can
        pip_in -U pip >/dev/null 2>&1 || say "could not upgrade pip; going on with bookworm's"
    fi
    log=$(mktemp)
    if [ "$KIND" = checkout ]; then
        opts=(--disable-pip-version-check -q --no-deps -w "$STAGE/dist")
        [ -n "$WHEELHOUSE" ] && opts+=(--no-index --find-links "$WHEELHOUSE")
        "$NEW/venv/bin/python" -m pip wheel "${opts[@]}" "$STAGE" >"$log" 2>&1 || {
            say "FAILED: cannot build the package from $SRC:"; tail -n 15 "$log" >&2
            rm -rf "$NEW"; exit 1; }
        PROJECT_WHEEL=$(ls "$STAGE"/dist/rtu_outstation-*.whl | head -n 1 || true)
    else
        PROJECT_WHEEL=$(ls "$WHEELHOUSE"/rtu_outstation-"$VERSION"-*.whl 2>/dev/null | head -n 1 || true)
        [ -n "$PROJECT_WHEEL" ] || die "the bundle has no rtu_outstation-$VERSION wheel"
    fi
    if ! pip_in "$PROJECT_WHEEL" >"$log" 2>&1; then
        say "FAILED: the package itself cannot be installed:"
        grep -iE 'error|no matching|could not' "$log" | tail -n 10 | sed 's/^/  pip: /' >&2
        rm -rf "$NEW" "$log"
        exit 1
    fi
    rm -f "$log"
    bad=()
    IFS=, read -r -a extras_list <<<"$EXTRAS"
    for extra in "${extras_list[@]}"; do
        [ -n "$extra" ] || continue
        install_extra "$extra" || bad+=("$extra")
    done
    if [ "${#bad[@]}" -gt 0 ]; then
        rm -rf "$NEW"
        die "extras not installable: ${bad[*]}. Nothing was changed" \
            "${CURRENT:+(release $CURRENT keeps running)}; --extras LIST installs fewer"
    fi
    "$NEW/venv/bin/rtu" --help >/dev/null || { rm -rf "$NEW"; die "the new rtu does not run"; }
    # what a roll-back needs without the bundle: this installer, the unit, the udev rule, docs
    install -d "$NEW/share/deploy" "$NEW/share/systemd" "$NEW/share/docs"
    install -m 0755 "$SRC/deploy/install.sh" "$SRC/deploy/uninstall.sh" "$NEW/share/deploy/"
    install -m 0644 "$SRC/deploy/99-rtu-serial.rules" "$NEW/share/deploy/"
    install -m 0644 "$SRC/systemd/rtu.service" "$NEW/share/systemd/"
    cp "$SRC"/docs/*.md "$NEW/share/docs/" 2>/dev/null || true
    release_state_format "$NEW" >"$NEW/STATE_FORMAT"
    echo "$ID ${EXTRAS:-}" >"$NEW/.complete"
fi

# -- 4. check the configuration with the new release, then switch -------------------------------
install -d -m 0755 "$ETC"
if [ -e "$ETC/rtu.toml" ]; then
    "$NEW/venv/bin/rtu" check "$ETC/rtu.toml" >&2 \
        || die "release $ID does not accept $ETC/rtu.toml: not switched" \
               "${CURRENT:+(release $CURRENT keeps running)}"
fi
if [ "$CHANGED" = 1 ]; then
    switch_to "$ID" "$CURRENT"
    # keep current and previous only
    for old in "$RELEASES"/*; do
        name=$(basename "$old")
        [ "$name" = "$ID" ] || [ "$name" = "$CURRENT" ] || rm -rf "$old"
    done
else
    switch_to "$ID" "$(release_of "$PREFIX/previous" || true)"
fi

# -- 6. configuration (never overwritten) -------------------------------------------------------
if [ ! -e "$ETC/rtu.toml" ]; then
    say "writing $ETC/rtu.toml (the bench profile: simulated field, 104 on 127.0.0.1:2404," \
        "event journal on)"
    config=$(mktemp)
    { "$NEW/venv/bin/python" -c \
        'import importlib.resources as r; print(r.files("rtu.examples").joinpath("bench.toml").read_text(), end="")'
      printf '\n# added by deploy/install.sh: unacknowledged events survive a restart (in\n'
      printf '# $STATE_DIRECTORY, /var/lib/rtu); see [journal] in example.toml\n[journal]\nenabled = true\n'
    } >"$config"
    install -m 0640 -o root -g "$USER_NAME" "$config" "$ETC/rtu.toml"
    rm -f "$config"
    "$NEW/venv/bin/rtu" check "$ETC/rtu.toml" >&2 || die "the bench profile does not validate"
fi
"$NEW/venv/bin/python" -c \
    'import importlib.resources as r; print(r.files("rtu.examples").joinpath("example.toml").read_text(), end="")' \
    >"$ETC/example.toml.new" && mv -f "$ETC/example.toml.new" "$ETC/example.toml"
chmod 0644 "$ETC/example.toml"

# -- 7. udev ------------------------------------------------------------------------------------
install -d -m 0755 "$(dirname "$RULES")"
if ! cmp -s "$SRC/deploy/99-rtu-serial.rules" "$RULES"; then
    install -m 0644 "$SRC/deploy/99-rtu-serial.rules" "$RULES"
    if command -v udevadm >/dev/null && [ -S /run/udev/control ]; then
        udevadm control --reload-rules && udevadm trigger --subsystem-match=tty --action=add || \
            say "udev did not reload its rules (they apply from the next plug-in or boot)"
    fi
fi

# -- 8. the board's hardware watchdog ------------------------------------------------------------
if [ "$HW_WATCHDOG" = 1 ]; then
    if [ -c /dev/watchdog0 ] || [ -c /dev/watchdog ]; then
        want=$(printf '# written by deploy/install.sh: systemd pets the board'"'"'s hardware watchdog;\n# a hung kernel or PID 1 resets the board (docs/service.md)\n[Manager]\nRuntimeWatchdogSec=%s\nRebootWatchdogSec=2min\n' "$HW_WATCHDOG_SEC")
        if [ "$(cat "$HW_WATCHDOG_CONF" 2>/dev/null)" != "$want" ]; then
            install -d -m 0755 "$(dirname "$HW_WATCHDOG_CONF")"
            printf '%s\n' "$want" >"$HW_WATCHDOG_CONF"
            say "hardware watchdog: systemd pets it every $HW_WATCHDOG_SEC/2 ($HW_WATCHDOG_CONF)"
            systemd_running && systemctl daemon-reexec
        fi
    else
        say "no hardware watchdog (/dev/watchdog0) here: systemd's RuntimeWatchdogSec left alone"
    fi
fi

# -- 9. systemd ---------------------------------------------------------------------------------
if systemd_running; then
    if [ "$CHANGED" = 1 ] || ! systemctl is-active --quiet rtu.service; then
        if ! restart_service; then
            if [ -n "$CURRENT" ] && [ "$CURRENT" != "$ID" ] && [ "$START" = 1 ]; then
                say "rtu.service did not come up on $ID: rolling back to $CURRENT"
                journalctl -u rtu.service -n 15 --no-pager >&2 2>/dev/null || true
                switch_to "$CURRENT" "$ID"
                restart_service || die "$CURRENT did not come up either: journalctl -u rtu"
                die "release $ID did not start; rolled back to $CURRENT"
            fi
            die "rtu.service did not start: journalctl -u rtu"
        fi
    else
        systemctl daemon-reload
        systemctl enable --quiet rtu.service
    fi
    [ "$START" = 1 ] && say "rtu.service is running: $(systemctl show -p StatusText --value rtu.service)"
else
    systemctl enable rtu.service 2>/dev/null || say "systemd is not running: enable rtu.service later"
fi
say "done: release $ID (config $ETC/rtu.toml, state $STATE, logs: journalctl -u rtu," \
    "operator: rtu status)"
