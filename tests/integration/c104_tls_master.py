"""A 104 master over TLS run by c104 2.1.1 (lib60870-C with mbedtls) in its own interpreter:
``.venv-c104tls/bin/python tests/integration/c104_tls_master.py JSON``. It connects with the
given certificates, starts data transfer, sends a station interrogation and one single command,
and prints one JSON object: the connection state reached and every APDU received, in hex.

c104 2.2.1 (the main test venv's) cannot complete a TLS handshake, hence the separate
interpreter (scripts/setup-test makes it). No `from __future__ import annotations`: c104 checks
callback annotations at run time; this file imports nothing from the project."""

import json
import sys
import time

import c104


def main() -> None:
    args = json.loads(sys.argv[1])
    received: list[str] = []

    def on_receive_raw(connection: c104.Connection, data: bytes) -> None:
        received.append(bytes(data).hex())

    security = c104.TransportSecurity(validate=True, only_known=bool(args["pinned"]))
    security.set_certificate(cert=args["cert"], key=args["key"])
    security.set_ca_certificate(cert=args["ca"])
    for certificate in args["pinned"]:
        security.add_allowed_remote_certificate(cert=certificate)
    version = getattr(c104.TlsVersion, args["version"])
    security.set_version(min=version, max=version)
    client = c104.Client(tick_rate_ms=50, command_timeout_ms=3000, transport_security=security)
    connection = client.add_connection(ip="127.0.0.1", port=args["port"], init=c104.Init.NONE)
    connection.on_receive_raw(callable=on_receive_raw)
    station = connection.add_station(common_address=1)
    command = station.add_point(io_address=args["command_ioa"], type=c104.Type.C_SC_NA_1)
    client.start()
    deadline = time.monotonic() + args["timeout"]
    while time.monotonic() < deadline and connection.state != c104.ConnectionState.OPEN:
        if connection.state == c104.ConnectionState.OPEN_MUTED:
            connection.unmute()  # STARTDT act
        time.sleep(0.05)
    state = connection.state.name
    if connection.state == c104.ConnectionState.OPEN:
        connection.interrogation(common_address=1, cause=c104.Cot.ACTIVATION,
                                 qualifier=c104.Qoi.STATION, wait_for_response=True)
        command.value = True
        command.transmit(cause=c104.Cot.ACTIVATION)
        # ACT_TERM comes once the relay has pulsed: wait for it (C_SC_NA_1 = 45, COT 10)
        until = time.monotonic() + args["linger"]
        while time.monotonic() < until and not any(
                h[12:14] == "2d" and int(h[16:18], 16) & 0x3F == 10 for h in list(received)):
            time.sleep(0.05)
    client.stop()
    print(json.dumps({"state": state, "received": received}))


if __name__ == "__main__":
    main()
