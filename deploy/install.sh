#!/usr/bin/env bash
# Install (or update) the RTU outstation as a systemd service on Raspberry Pi OS / Debian
# bookworm, from the checkout this script is in. Idempotent: run it again after `git pull`.
#
#   sudo deploy/install.sh [--no-start] [--no-apt] [--wheelhouse DIR]
#
#   1. Debian packages it needs when missing (python3, python3-venv; and, to build
#      systemd-python, gcc, pkg-config, libsystemd-dev, python3-dev). --no-apt: don't.
#   2. The system user `rtu` (home /var/lib/rtu, no login), added to those of the groups
#      dialout, gpio, spi, i2c that exist here (serial lines, GPIO, SPI, I2C devices).
#   3. A virtualenv in /opt/rtu/venv with the package and its `systemd` extra
#      (systemd-python); if that cannot be built, without it (sd_notify then falls back to
#      the built-in datagram sender); on a Raspberry Pi also the `pi` extra (RTU_EXTRAS=...
#      overrides the list). --wheelhouse DIR installs offline from wheels in DIR
#      (pip wheel/download made elsewhere, including setuptools and wheel).
#   4. systemd/rtu.service -> /etc/systemd/system/rtu.service.
#   5. /etc/rtu/rtu.toml ONLY if there is none: the bench profile (a simulated field, no
#      hardware needed, 104 on 127.0.0.1:2404: set [iec104] listen = "0.0.0.0:2404" to reach
#      it from the network). An existing file is never touched; it is checked with `rtu check`.
#   6. deploy/99-rtu-serial.rules -> /etc/udev/rules.d/ (stable /dev/rtu-rs485-* names for
#      USB RS-485 adapters), and udev reloads its rules if it runs.
#   7. systemctl daemon-reload, enable rtu, and (unless --no-start) start it, or restart it
#      when it was running, so that an update takes effect.
# deploy/uninstall.sh undoes 3, 4, 6 and 7, and keeps /etc/rtu and /var/lib/rtu.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=/opt/rtu
VENV=$PREFIX/venv
ETC=/etc/rtu
UNIT=/etc/systemd/system/rtu.service
RULES=/etc/udev/rules.d/99-rtu-serial.rules
USER_NAME=rtu
GROUPS_WANTED=(dialout gpio spi i2c)

START=1
APT=1
WHEELHOUSE=
while [ $# -gt 0 ]; do
    case $1 in
        --no-start) START=0 ;;
        --no-apt) APT=0 ;;
        --wheelhouse) WHEELHOUSE=${2:?--wheelhouse needs a directory}; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--no-start] [--no-apt] [--wheelhouse DIR]" >&2; exit 2 ;;
    esac
    shift
done

say() { printf 'install: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
systemd_running() { [ -d /run/systemd/system ]; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
[ -f "$SRC/pyproject.toml" ] && [ -d "$SRC/rtu" ] || die "$SRC is not an rtu checkout"

# -- 1. Debian packages ---------------------------------------------------------------------------
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
if [ "$APT" = 1 ] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; then
    wanted=(python3 python3-venv)
    [ -z "$WHEELHOUSE" ] && wanted+=(gcc pkg-config libsystemd-dev python3-dev)
    missing=()
    for p in "${wanted[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -qq -o DPkg::Lock::Timeout=120 update >/dev/null || say "apt-get update failed; going on"
        apt-get -qq -o DPkg::Lock::Timeout=120 install -y --no-install-recommends "${missing[@]}" \
            >/dev/null || say "could not install all of: ${missing[*]}"
    fi
fi
command -v python3 >/dev/null || die "python3 is missing"

# -- 2. user and groups ---------------------------------------------------------------------------
if ! getent passwd "$USER_NAME" >/dev/null; then
    say "creating system user $USER_NAME"
    useradd --system --user-group --home-dir /var/lib/rtu --no-create-home \
        --shell /usr/sbin/nologin --comment "RTU outstation" "$USER_NAME"
fi
for group in "${GROUPS_WANTED[@]}"; do
    if getent group "$group" >/dev/null; then
        id -nG "$USER_NAME" | tr ' ' '\n' | grep -qx "$group" || usermod -a -G "$group" "$USER_NAME"
    else
        say "no group $group here; skipped (its devices are not used on this machine)"
    fi
done

# -- 3. virtualenv and package ----------------------------------------------------------------------
install -d -m 0755 "$PREFIX" "$PREFIX/docs"
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$VENV"
    say "creating $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed: install python3-venv"
fi
# Build from a copy: the checkout may be read-only, and pip would leave build/ in it.
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
tar -C "$SRC" --exclude=__pycache__ -cf - pyproject.toml README.md LICENSE rtu hal \
    | tar -C "$STAGE" -xf -
pip_install() {
    local opts=(--disable-pip-version-check -q)
    [ -n "$WHEELHOUSE" ] && opts+=(--no-index --find-links "$WHEELHOUSE")
    "$VENV/bin/python" -m pip install "${opts[@]}" "$@"
}
EXTRAS=${RTU_EXTRAS:-systemd}
if [ -z "${RTU_EXTRAS:-}" ] && grep -qs "Raspberry Pi" /proc/device-tree/model; then
    EXTRAS=systemd,pi  # gpiod, RPi.GPIO, spidev, smbus2 for the board's own I/O
fi
say "installing the package into $VENV (extras: $EXTRAS)"
if ! pip_install "$STAGE[$EXTRAS]"; then
    say "the extras ($EXTRAS) could not be installed; installing without them"
    pip_install "$STAGE" || die "pip install failed"
fi
install -m 0644 "$SRC/docs/service.md" "$PREFIX/docs/service.md" 2>/dev/null || true
"$VENV/bin/rtu" --help >/dev/null || die "$VENV/bin/rtu does not run"

# -- 4. unit ----------------------------------------------------------------------------------------
install -m 0644 "$SRC/systemd/rtu.service" "$UNIT"

# -- 5. configuration (never overwritten) -------------------------------------------------------------
install -d -m 0755 "$ETC"
if [ ! -e "$ETC/rtu.toml" ]; then
    say "writing $ETC/rtu.toml (the bench profile: simulated field, 104 on 127.0.0.1:2404," \
        "event journal on)"
    config=$(mktemp)
    # a service keeps what no master acknowledged across restarts: the journal is on here (off
    # in the profile itself, so that development runs do not share a state file)
    { cat "$SRC/rtu/examples/bench.toml"
      printf '\n# added by deploy/install.sh: unacknowledged events survive a restart (in\n'
      printf '# $STATE_DIRECTORY, /var/lib/rtu); see [journal] in example.toml\n[journal]\nenabled = true\n'
    } >"$config"
    install -m 0640 -o root -g "$USER_NAME" "$config" "$ETC/rtu.toml"
    rm -f "$config"
else
    say "keeping the existing $ETC/rtu.toml"
fi
install -m 0644 "$SRC/rtu/examples/example.toml" "$ETC/example.toml"  # the annotated reference
"$VENV/bin/rtu" check "$ETC/rtu.toml" >&2 || say "WARNING: $ETC/rtu.toml does not validate"

# -- 6. udev ----------------------------------------------------------------------------------------
install -d -m 0755 "$(dirname "$RULES")"
install -m 0644 "$SRC/deploy/99-rtu-serial.rules" "$RULES"
if command -v udevadm >/dev/null && [ -S /run/udev/control ]; then
    udevadm control --reload-rules && udevadm trigger --subsystem-match=tty --action=add || \
        say "udev did not reload its rules (they apply from the next plug-in or boot)"
fi

# -- 7. systemd -------------------------------------------------------------------------------------
if systemd_running; then
    systemctl daemon-reload
    systemctl enable --quiet rtu.service
    if [ "$START" = 1 ]; then
        systemctl reset-failed rtu.service 2>/dev/null || true
        if systemctl is-active --quiet rtu.service; then
            say "restarting rtu.service (updated)"
            systemctl restart rtu.service
        else
            say "starting rtu.service"
            systemctl start rtu.service
        fi
        systemctl is-active --quiet rtu.service || die "rtu.service did not start: journalctl -u rtu"
        say "rtu.service is running: $(systemctl show -p StatusText --value rtu.service)"
    fi
else
    systemctl enable rtu.service 2>/dev/null || say "systemd is not running: enable rtu.service later"
fi
say "done (config $ETC/rtu.toml, state /var/lib/rtu, logs: journalctl -u rtu, operator: $VENV/bin/rtu status)"
