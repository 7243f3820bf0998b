#!/usr/bin/env bash
# Remove what deploy/install.sh installed: the service (stopped and disabled), its unit,
# /opt/rtu (every release), /usr/local/bin/rtu, the udev rule and the hardware watchdog
# setting it wrote. KEEPS the configuration (/etc/rtu), the state
# (/var/lib/rtu) and the `rtu` user, so that a later install.sh picks up where this left off.
# Remove those by hand if they should go: rm -r /etc/rtu /var/lib/rtu; userdel rtu.
#
#   sudo deploy/uninstall.sh
set -euo pipefail

UNIT=/etc/systemd/system/rtu.service
RULES=/etc/udev/rules.d/99-rtu-serial.rules
BIN_LINK=/usr/local/bin/rtu
HW_WATCHDOG_CONF=/etc/systemd/system.conf.d/rtu-watchdog.conf

say() { printf 'uninstall: %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "run as root"; exit 1; }

if [ -d /run/systemd/system ]; then
    systemctl disable --now --quiet rtu.service 2>/dev/null || true
else
    systemctl disable --quiet rtu.service 2>/dev/null || true
fi
rm -f "$UNIT"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl reset-failed rtu.service 2>/dev/null || true
fi
rm -rf /opt/rtu
case $(readlink "$BIN_LINK" 2>/dev/null || true) in /opt/rtu/*) rm -f "$BIN_LINK" ;; esac
if grep -qs 'written by deploy/install.sh' "$HW_WATCHDOG_CONF"; then
    rm -f "$HW_WATCHDOG_CONF"
    [ -d /run/systemd/system ] && systemctl daemon-reexec
fi
if [ -e "$RULES" ]; then
    rm -f "$RULES"
    if command -v udevadm >/dev/null && [ -S /run/udev/control ]; then
        udevadm control --reload-rules || true
    fi
fi
say "removed; kept /etc/rtu, /var/lib/rtu and the rtu user"
