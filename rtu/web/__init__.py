"""The local web page for diagnostics and commissioning (docs/web.md).

Read-only: it shows the station, the points, the links and the events; nothing on it can
command, set or configure anything. :mod:`rtu.web.settings` (the ``[web]`` section) and
:mod:`rtu.web.auth` import nothing outside the standard library; only :mod:`rtu.web.server`
imports aiohttp, and only when the page is enabled.
"""
