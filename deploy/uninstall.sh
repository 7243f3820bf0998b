#!/usr/bin/env bash
# Remove what deploy/install.sh installed: the service (stopped and disabled), its unit,
# /opt/rtu (the virtualenv) and the udev rule. KEEPS the configuration (/etc/rtu), the state
# (/var/lib/rtu) and the `rtu` user, so that a later install.sh picks up where this left off.
# Remove those by hand if they should go: rm -r /etc/rtu /var/lib/rtu; userdel rtu.
#
#   sudo deploy/uninstall.sh
set -euo pipefail

UNIT=/etc/systemd/system/rtu.service
RULES=/etc/udev/rules.d/99-rtu-serial.rules

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
if [ -e "$RULES" ]; then
    rm -f "$RULES"
    if command -v udevadm >/dev/null && [ -S /run/udev/control ]; then
        udevadm control --reload-rules || true
    fi
fi
say "removed; kept /etc/rtu, /var/lib/rtu and the rtu user"
