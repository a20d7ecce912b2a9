"""The benchmark harness (benchmarks/): its table, README block, JSON and process sampling,
and one quick run through the real PC/SC stack. No timing is asserted: numbers belong to
``make bench``, not to tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.measure import BenchError, Command, median, run_process, sample_pair
from benchmarks.results import (
    ERROR,
    INFO,
    MISS,
    PASS,
    SKIP,
    TABLE_END,
    TABLE_START,
    error_row,
    info_row,
    limit_row,
    overall_status,
    ratio_row,
    render_table,
    skip_row,
    update_readme,
    write_json,
)
from benchmarks.verify_watch import parse_timing
from tests.support.cli import ROOT
from tests.support.stack import have_real_pcsc

FIGURE_IDS = {
    "card-read",
    "card-read-click",
    "card-read-click-cpu",
    "reader-list",
    "reader-list-click",
    "reader-list-click-cpu",
    "startup",
    "rss",
    "verify",
    "sandbox-job",
    "web-register",
    "web-verify-email",
    "web-ecpa-login",
    "web-job",
    "agent-serve-getversion",
    "agent-serve-h-sign",
}
META = {
    "generated_at": "2024-01-01 00:00 UTC",
    "commit": "abc1234",
    "runs": 3,
    "quick": False,
    "host": {"cpus": 2, "load_before": "0.10 0.20 0.30", "python": "3.11.7"},
}


def python(code: str) -> Command:
    return Command("py", (sys.executable, "-c", code), dict(os.environ))


# -- rows and the table ------------------------------------------------------------------


def test_ratio_row_passes_at_the_limit_and_misses_above() -> None:
    at = ratio_row("card-read", "t", 0.125, 0.1, 1.25)
    assert (at.status, at.subject, at.baseline, at.target) == (
        PASS,
        "125.0 ms",
        "100.0 ms",
        "≤ 1.25×",
    )
    assert at.cells()[3] == "1.25×"
    assert ratio_row("card-read", "t", 0.126, 0.1, 1.25).status == MISS
    memory = ratio_row("rss", "t", 2048, 1024, 1.5, unit="kb")
    assert (memory.subject, memory.baseline, memory.status) == ("2.0 MiB", "1.0 MiB", MISS)


def test_limit_row_is_strictly_below() -> None:
    assert limit_row("verify", "t", 4.99, 5.0, "4.99 MB", "< 5 MB").status == PASS
    assert limit_row("verify", "t", 5.0, 5.0, "5.00 MB", "< 5 MB").status == MISS


def test_skips_do_not_fail_the_run_but_errors_do() -> None:
    ok = ratio_row("startup", "t", 1.0, 1.0, 1.5)
    skipped = skip_row("sandbox-job", "t", "< 3 s", "not available yet: nhicard register missing")
    assert overall_status([ok, skipped]) == PASS
    context = info_row("card-read", "t", 0.2, 0.1)  # 2×, but a ratio with no target
    assert (context.status, context.target, context.cells()[3]) == (INFO, "—", "2.00×")
    assert overall_status([ok, context]) == PASS
    assert overall_status([ok, skipped, error_row("rss", "t", "≤ 1.5×", "boom")]) == MISS
    assert overall_status([ok, ratio_row("startup", "t", 2.0, 1.0, 1.5)]) == MISS


def test_table_has_a_header_a_rule_and_one_aligned_line_per_row() -> None:
    rows = [
        ratio_row("card-read", "card read", 0.1, 0.09, 1.25),
        skip_row("verify", "card verify --watch", "≤ 20 ms/card", "not available yet"),
    ]
    lines = render_table(rows).splitlines()
    assert len(lines) == 4
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "figure", "nhicard", "baseline", "ratio", "target", "result",
    ]  # fmt: skip
    assert set(lines[1]) == {"|", "-"}
    assert len({len(line) for line in lines}) == 1
    assert [c.strip() for c in lines[3].strip("|").split("|")] == [
        "card verify --watch", "—", "—", "—", "≤ 20 ms/card", SKIP,
    ]  # fmt: skip


def test_readme_block_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nmethod\n\n{TABLE_START}\nold table\n{TABLE_END}\n\nafter\n")
    update_readme(readme, [ratio_row("startup", "--version", 0.05, 0.04, 1.5)], META)
    text = readme.read_text()
    assert text.startswith("# Title\n\nmethod\n\n" + TABLE_START)
    assert text.endswith(TABLE_END + "\n\nafter\n")
    assert "old table" not in text
    assert "| --version" in text and "1.25×" in text and "commit `abc1234`" in text
    update_readme(readme, [skip_row("verify", "v", "x", "not available yet: y")], META)
    assert readme.read_text().count(TABLE_START) == 1
    assert "- verify: not available yet: y" in readme.read_text()


def test_readme_without_markers_is_refused(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    with pytest.raises(ValueError):
        update_readme(readme, [], META)


def test_json_has_status_meta_and_samples(tmp_path: Path) -> None:
    out = tmp_path / "results" / "latest.json"
    row = ratio_row("startup", "t", 0.2, 0.1, 1.5, data={"subject_samples": [0.2]})
    write_json(out, [row], META)
    doc = json.loads(out.read_text())
    assert doc["status"] == MISS and doc["commit"] == "abc1234"
    assert doc["figures"][0]["data"]["subject_samples"] == [0.2]
    assert doc["figures"][0]["ratio"] == pytest.approx(2.0)


# -- sampling processes ------------------------------------------------------------------


def test_median() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_run_process_captures_output_exit_code_and_resources() -> None:
    run = run_process(
        python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
    )
    assert (run.returncode, run.stdout, run.stderr) == (3, "out\n", "err\n")
    assert run.wall_s > 0 and run.max_rss_kb > 0


def test_sample_pair_interleaves_and_refuses_to_time_a_failing_command(tmp_path: Path) -> None:
    log = tmp_path / "order"
    a = python(f"open({str(log)!r}, 'a').write('a')")
    b = python(f"open({str(log)!r}, 'a').write('b')")
    samples = sample_pair(a, b, 3, warmup=1)
    assert (len(samples.subject), len(samples.baseline)) == (3, 3)
    assert log.read_text() == "ab" + "ab" + "ba" + "ab"  # warm-up, then A B, B A, A B
    with pytest.raises(BenchError, match="exited 2"):
        sample_pair(python("import sys; sys.exit(2)"), b, 1, warmup=0)


def test_peak_rss_wrapper_reports_the_programs_peak(tmp_path: Path) -> None:
    program = tmp_path / "big.py"
    program.write_text("import sys\nblock = bytearray(64 * 1024 * 1024)\nsys.exit(4)\n")
    outfile = tmp_path / "peak"
    wrapper = str(ROOT / "benchmarks" / "peak_rss.py")
    run = run_process(
        Command("w", (sys.executable, wrapper, str(outfile), str(program)), os.environ)
    )
    assert run.returncode == 4  # the program's exit status passes through
    assert int(outfile.read_text()) > 64 * 1024


def test_verify_timing_line_is_parsed() -> None:
    line = "Card 910000000001: total 3.2 ms, APDU 1.1 ms (3 APDUs), connect 0.4 ms, software 2.1 ms"
    timing = parse_timing(line)
    assert timing is not None
    assert (timing.total_ms, timing.apdu_ms, timing.apdus, timing.software_ms) == (3.2, 1.1, 3, 2.1)
    assert parse_timing("#1 Card 910000000001: verified ok. Remove the card.") is None


# -- one quick run through the real parts ------------------------------------------------


def test_quick_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    why = have_real_pcsc()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the real PC/SC stack is required in CI: {why}")
        pytest.skip(why)
    readme = ROOT / "benchmarks" / "README.md"
    readme_before = readme.read_text()
    results = tmp_path / "latest.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert run.returncode in (0, 1), run.stderr  # 1 = a target missed: allowed in a smoke test
    doc = json.loads(results.read_text())
    assert doc["quick"] is True and doc["runs"] == 2
    figures = doc["figures"]
    assert {f["figure"] for f in figures} == FIGURE_IDS
    errors = [(f["figure"], f["note"]) for f in figures if f["status"] == ERROR]
    assert not errors
    assert doc["status"] == (PASS if run.returncode == 0 else MISS)
    for f in figures:
        assert f["status"] in (PASS, MISS, SKIP, INFO)
        if f["figure"] in ("card-read", "reader-list"):  # the bare scripts: context only
            assert f["status"] == INFO and f["target"] == "—"
        if f["figure"] in ("card-read", "reader-list", "startup", "rss"):
            assert f["status"] != SKIP
            assert len(f["data"]["subject_samples"]) == 2
            assert len(f["data"]["baseline_samples"]) == 2
            assert f["ratio"] > 0
        if f["status"] == SKIP:
            assert f["note"].startswith("not available yet: nhicard ")
    table = [line for line in run.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(figures)
    assert table[0].split("|")[-2].strip() == "result"
    assert run.stdout.rstrip().splitlines()[-1].startswith(doc["status"])
    assert readme.read_text() == readme_before  # --quick never rewrites the README
