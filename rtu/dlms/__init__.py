"""Our own DLMS/COSEM client core (IEC 62056-5-3/-6-2, Green Book 8), sans-I/O like rtu/iec/.

No asyncio, socket, serial or clock imports below here: cores take bytes and hand out events
(and bytes to send); the drivers in ``rtu/sources`` move the bytes and keep the time.

* :mod:`axdr` - A-XDR data (``Data``) with its BER-like lengths;
* :mod:`apdu` - xDLMS/ACSE APDUs: AARQ/AARE, RLRQ/RLRE, GET, ACTION, exception and
  confirmed-service-error, data-notification;
* :mod:`security` - security suite 0: AES-GCM-128 glo-ciphering and the HLS-GMAC pass;
* :mod:`wrapper` - the TCP/UDP wrapper (IEC 62056-47);
* :mod:`hdlc` - HDLC frame type 3 (IEC 62056-46) and the client link;
* :mod:`client` - one association: the application state machine on top of either framing.
"""
