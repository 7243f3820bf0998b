"""`rtu --version`."""

from __future__ import annotations

import pytest


def test_rtu_version_names_the_installed_release(capsys: pytest.CaptureFixture[str]) -> None:
    """`rtu --version`: what the fleet report collects from each board."""
    from importlib import metadata

    from rtu.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"rtu {metadata.version('rtu-outstation')}"
