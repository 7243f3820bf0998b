"""IEC 60870-5-101 sans-I/O cores: FT1.2 framing (:mod:`.ft12`) and the link layer by role and
mode (:mod:`.link` shared parts, :mod:`.secondary`, :mod:`.unbalanced`, :mod:`.balanced`)."""
