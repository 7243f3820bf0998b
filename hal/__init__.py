"""Hardware drivers behind small Protocol interfaces, with in-memory fakes. Never imports rtu."""
