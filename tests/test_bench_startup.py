"""sonotype bench startup: fresh processes timed and measured (no speed asserted: that is the benchmark's job)."""
from __future__ import annotations

import sys

from sonotype.bench.startup import run_once, table_markdown, time_path


def test_run_once_measures_the_child_not_the_parent():
    ballast = bytearray(300 * 2 ** 20)  # this process is large; the children are not
    ballast[::4096] = b"x" * len(ballast[::4096])
    big = run_once([sys.executable, "-m", "json.tool", "--help"], env=None)
    small = run_once([sys.executable, "-m", "this"])
    assert big["returncode"] == 0 and small["returncode"] == 0
    assert 1 < small["peak_rss_mb"] < 100 and 1 < big["peak_rss_mb"] < 100  # not the parent's 300 MB
    assert run_once([sys.executable, "-m", "sonotype.cli.main", "no-such-command"])["returncode"] == 2


def test_core_path_row_and_table(monkeypatch, tmp_path):
    monkeypatch.setenv("SONOTYPE_CACHE", str(tmp_path))
    row = time_path("core", repeats=1)
    assert "error" not in row, row
    assert row["runs"] == 1 and row["wall_s"] > 0 and row["peak_rss_mb"] > 10
    row["install_mb"], row["install_missing"] = 160.0, []
    torch_row = dict(row, path="torch", wall_s=row["wall_s"] * 8, peak_rss_mb=row["peak_rss_mb"] * 4,
                     install_mb=1600.0)
    text = table_markdown({"rows": {"core": row, "torch": torch_row},
                           "ratios": {"wall_s": 8.0, "peak_rss_mb": 4.0, "install_mb": 10.0}})
    assert "| torch / core | 8.0× | 4.0× | 10.0× |" in text and text.count("\n") == 5

