"""A reload of a file that differs only in comments changes nothing (the digest that
`rtu status` reports is not behaviour), while the running configuration's digest follows."""

from __future__ import annotations

from pathlib import Path

from rtu.config import load_config
from rtu.reload import plan_reload

BENCH = Path(__file__).resolve().parents[2] / "rtu" / "examples" / "bench.toml"


def test_a_comment_changes_the_digest_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "rtu.toml"
    path.write_bytes(BENCH.read_bytes())
    old = load_config(path)
    path.write_bytes(BENCH.read_bytes() + b"\n# pushed again by the fleet\n")
    new = load_config(path)
    assert old.digest != new.digest and len(new.digest) == 64
    plan = plan_reload(old, new)
    assert plan.changed == () and not plan.rebuild and plan.describe() == "nothing changed"


def test_a_real_change_is_still_seen(tmp_path: Path) -> None:
    path = tmp_path / "rtu.toml"
    path.write_bytes(BENCH.read_bytes())
    old = load_config(path)
    path.write_text(BENCH.read_text().replace("common_address = 1\n", "common_address = 9\n", 1))
    plan = plan_reload(old, load_config(path))
    assert plan.changed == ("station",) and not plan.rebuild
