"""COSEM values a client builds: date-times and the Profile Generic access selectors.

* a COSEM date-time is 12 octets: year (2), month, day, weekday (1 = Monday), hour, minute,
  second, hundredths, deviation (2, signed minutes; local = UTC - deviation in the Blue
  Book's sign), clock status (Blue Book 4.1.6.1). We send UTC with deviation 0;
* selective access by range (selector 1): ``{restricting_object {class_id, logical_name,
  attribute_index, data_index}, from_value, to_value, selected_values (empty: every
  column)}``;
* selective access by entry (selector 2): ``{from_entry, to_entry, from_selected_value,
  to_selected_value}`` (double-long-unsigned, double-long-unsigned, long-unsigned,
  long-unsigned).
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Final

from rtu.dlms.axdr import (
    Data,
    array,
    double_long_unsigned,
    integer,
    long_unsigned,
    octet_string,
    structure,
)
from rtu.dlms.errors import LocalProtocolError

RANGE_SELECTOR: Final = 1
ENTRY_SELECTOR: Final = 2

Obis = tuple[int, int, int, int, int, int]


def encode_datetime_utc(timestamp: float) -> bytes:
    """POSIX seconds -> a COSEM date-time in UTC (deviation 0, status 0), whole seconds."""
    when = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    return struct.pack(">HBBBBBBBhB", when.year, when.month, when.day, when.isoweekday(),
                       when.hour, when.minute, when.second, 0, 0, 0)


def range_descriptor(restricting_class: int, restricting_obis: Obis, restricting_attribute: int,
                     start: float, end: float) -> Data:
    """Selector 1's parameters: entries whose restricting value lies in ``start .. end``."""
    if end < start:
        raise LocalProtocolError(f"a range from {start} back to {end}")
    restricting = structure(long_unsigned(restricting_class), octet_string(bytes(restricting_obis)),
                            integer(restricting_attribute), long_unsigned(0))
    return structure(restricting, octet_string(encode_datetime_utc(start)),
                     octet_string(encode_datetime_utc(end)), array())


def entry_descriptor(from_entry: int, to_entry: int = 0, from_column: int = 1,
                     to_column: int = 0) -> Data:
    """Selector 2's parameters (``to_entry`` 0: the newest; ``to_column`` 0: the last)."""
    if from_entry < 1 or to_entry < 0 or from_column < 1 or to_column < 0 \
            or (to_entry and to_entry < from_entry):
        raise LocalProtocolError(f"entries {from_entry}..{to_entry}, columns "
                                 f"{from_column}..{to_column}")
    return structure(double_long_unsigned(from_entry), double_long_unsigned(to_entry),
                     long_unsigned(from_column), long_unsigned(to_column))
