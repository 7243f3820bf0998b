"""Security suite 0 (Green Book 9.2.3): AES-GCM-128 with a 12-octet tag, through `cryptography`.

* glo-ciphering of an APDU: ``tag | length | SC | IC (4) | ciphertext | T (12)``; the
  initialisation vector is the sender's system title and its invocation counter; with
  authentication the additional data is ``SC || AK`` (and the whole plaintext too when the APDU
  is authenticated only, not encrypted);
* general-glo-ciphering (tag 0xDB): the same, after the sender's system title;
* HLS-GMAC (mechanism 5): ``f(challenge) = SC || IC || GMAC(SC || AK || challenge)``.

No clock, no I/O: the caller owns the invocation counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from rtu.dlms.axdr import decode_length, encode_length, take
from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError

TAG_SIZE: Final = 12
SYSTEM_TITLE_SIZE: Final = 8
KEY_SIZE: Final = 16
SC_AUTHENTICATED: Final = 0x10
SC_ENCRYPTED: Final = 0x20
SC_SUITE_MASK: Final = 0x0F
SC_AUTH_ENC: Final = SC_AUTHENTICATED | SC_ENCRYPTED  # suite 0
GENERAL_GLO_CIPHERING: Final = 0xDB

# plain tag -> glo-ciphered tag (the xDLMS APDUs a client sends or receives)
GLO_TAGS: Final = {0x01: 0x21, 0x08: 0x28, 0x0E: 0x2E, 0xC0: 0xC8, 0xC1: 0xC9, 0xC2: 0xCA,
                   0xC3: 0xCB, 0xC4: 0xCC, 0xC5: 0xCD, 0xC7: 0xCF}
PLAIN_TAGS: Final = {glo: plain for plain, glo in GLO_TAGS.items()}


@dataclass(frozen=True, slots=True)
class SecurityKeys:
    encryption_key: bytes  # the global unicast encryption key (EK)
    authentication_key: bytes  # AK

    def __post_init__(self) -> None:
        if len(self.encryption_key) != KEY_SIZE or len(self.authentication_key) != KEY_SIZE:
            raise LocalProtocolError("suite 0 keys are 16 octets each")


def _iv(system_title: bytes, counter: int) -> bytes:
    if len(system_title) != SYSTEM_TITLE_SIZE:
        raise RemoteProtocolError(f"a system title of {len(system_title)} octets (8 expected)")
    return system_title + counter.to_bytes(4, "big")


def encrypt(keys: SecurityKeys, system_title: bytes, counter: int, plaintext: bytes,
            sc: int = SC_AUTH_ENC) -> bytes:
    """``ciphertext || T`` (encrypted and authenticated) or ``plaintext || T``
    (authenticated only)."""
    if not 0 <= counter <= 0xFFFFFFFF:
        raise LocalProtocolError(f"invocation counter {counter}")
    encryptor = Cipher(algorithms.AES(keys.encryption_key),
                       modes.GCM(_iv(system_title, counter))).encryptor()
    aad = bytes([sc]) + keys.authentication_key
    if sc & SC_ENCRYPTED:
        encryptor.authenticate_additional_data(aad)
        body = encryptor.update(plaintext) + encryptor.finalize()
    else:
        encryptor.authenticate_additional_data(aad + plaintext)
        encryptor.finalize()
        body = plaintext
    return body + encryptor.tag[:TAG_SIZE]


def decrypt(keys: SecurityKeys, system_title: bytes, counter: int, body: bytes,
            sc: int) -> bytes:
    """The plaintext of ``body`` (``ciphertext || T``); RemoteProtocolError when the tag is
    wrong (another key, a tampered APDU)."""
    if sc & SC_SUITE_MASK != 0:
        raise RemoteProtocolError(f"security suite {sc & SC_SUITE_MASK} (only suite 0 here)")
    if not sc & SC_AUTHENTICATED:
        raise RemoteProtocolError("an APDU that is not authenticated is not accepted")
    if len(body) < TAG_SIZE:
        raise RemoteProtocolError("a ciphered APDU shorter than its tag")
    data, tag = body[:-TAG_SIZE], body[-TAG_SIZE:]
    decryptor = Cipher(algorithms.AES(keys.encryption_key),
                       modes.GCM(_iv(system_title, counter), tag, min_tag_length=TAG_SIZE)
                       ).decryptor()
    aad = bytes([sc]) + keys.authentication_key
    try:
        if sc & SC_ENCRYPTED:
            decryptor.authenticate_additional_data(aad)
            plaintext = decryptor.update(data) + decryptor.finalize()
        else:
            decryptor.authenticate_additional_data(aad + data)
            decryptor.finalize()
            plaintext = data
    except InvalidTag:
        raise RemoteProtocolError("the ciphered APDU does not authenticate (wrong keys or "
                                  "tampered)") from None
    return plaintext


@dataclass(frozen=True, slots=True)
class Ciphered:
    """A ciphered APDU taken apart: the plain APDU's tag, SC, IC and ``ciphertext || T``;
    ``system_title`` only for general-glo-ciphering."""

    plain_tag: int | None  # None: general-glo-ciphering (the tag is inside)
    sc: int
    counter: int
    body: bytes
    system_title: bytes | None = None


def cipher_apdu(keys: SecurityKeys, system_title: bytes, counter: int, apdu: bytes) -> bytes:
    """glo-ciphering of a plain xDLMS APDU (its glo- tag taken from the plain one)."""
    glo = GLO_TAGS.get(apdu[0]) if apdu else None
    if glo is None:
        raise LocalProtocolError(f"no glo-ciphered form of APDU tag 0x{apdu[:1].hex()}")
    content = bytes([SC_AUTH_ENC]) + counter.to_bytes(4, "big") + \
        encrypt(keys, system_title, counter, apdu)
    return bytes([glo]) + encode_length(len(content)) + content


def parse_ciphered(apdu: bytes) -> Ciphered:
    """A glo-ciphered or general-glo-ciphered APDU, not deciphered yet."""
    if not apdu:
        raise RemoteProtocolError("an empty APDU")
    pos = 1
    system_title = None
    plain_tag: int | None
    if apdu[0] == GENERAL_GLO_CIPHERING:
        size, pos = decode_length(apdu, pos)
        system_title, pos = take(apdu, pos, size, "system title")
        plain_tag = None
    elif apdu[0] in PLAIN_TAGS:
        plain_tag = PLAIN_TAGS[apdu[0]]
    else:
        raise RemoteProtocolError(f"APDU tag 0x{apdu[0]:02X} is not a ciphered one")
    size, pos = decode_length(apdu, pos)
    content, pos = take(apdu, pos, size, "ciphered APDU")
    if pos != len(apdu) or len(content) < 5:
        raise RemoteProtocolError("a ciphered APDU of the wrong length")
    return Ciphered(plain_tag, content[0], int.from_bytes(content[1:5], "big"), content[5:],
                    system_title)


def decipher_apdu(keys: SecurityKeys, system_title: bytes, ciphered: Ciphered) -> bytes:
    """The plain APDU inside (``system_title``: the sender's, unless the APDU carries one)."""
    title = ciphered.system_title if ciphered.system_title is not None else system_title
    plain = decrypt(keys, title, ciphered.counter, ciphered.body, ciphered.sc)
    if ciphered.plain_tag is not None and (not plain or plain[0] != ciphered.plain_tag):
        raise RemoteProtocolError("the deciphered APDU does not match its glo- tag")
    return plain


def is_ciphered(apdu: bytes) -> bool:
    return bool(apdu) and (apdu[0] in PLAIN_TAGS or apdu[0] == GENERAL_GLO_CIPHERING)


# -- HLS-GMAC ----------------------------------------------------------------------------------
def gmac_reply(keys: SecurityKeys, system_title: bytes, counter: int, challenge: bytes) -> bytes:
    """f(challenge) = SC || IC || GMAC(SC || AK || challenge), with the sender's system title
    and invocation counter."""
    tag = encrypt(keys, system_title, counter, challenge, sc=SC_AUTHENTICATED)[-TAG_SIZE:]
    return bytes([SC_AUTHENTICATED]) + counter.to_bytes(4, "big") + tag


def check_gmac_reply(keys: SecurityKeys, system_title: bytes, challenge: bytes,
                     reply: bytes) -> int:
    """Checks the server's f(CtoS); returns its invocation counter. RemoteProtocolError when
    it is wrong."""
    if len(reply) != 1 + 4 + TAG_SIZE or reply[0] != SC_AUTHENTICATED:
        raise RemoteProtocolError(f"HLS: a GMAC reply of {len(reply)} octets")
    counter = int.from_bytes(reply[1:5], "big")
    if gmac_reply(keys, system_title, counter, challenge) != reply:
        raise RemoteProtocolError("HLS: the meter's answer to our challenge is wrong")
    return counter
