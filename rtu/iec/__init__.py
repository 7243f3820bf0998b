"""Protocol cores: no asyncio, sockets, serial ports or clocks below this package."""
