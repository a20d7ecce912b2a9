"""``nhicard env check`` as a user runs it: JSON and table output, exit codes, ``--only``,
``--installer``, and the network, clock and agent groups against loopback servers named in a
site-profile file (``--profile FILE``) and ``--agent-url``."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nhicard.cli import main as main_mod
from nhicard.envcheck import installer
from nhicard.envcheck.plan import all_check_ids
from tests.support.cli import run_nhicard
from tests.support.envcheck_servers import (
    TestCA,
    https_site,
    silent_listener,
    wss_component,
)
from tests.support.ports import free_port

NO_PCSC = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}


def check_json(
    *args: str, env: dict[str, str] | None = None, lang: str = "en"
) -> tuple[int, dict[str, Any], str]:
    proc = run_nhicard("--lang", lang, *args, env=env, timeout=60)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["checks"]}


def write_profile(
    tmp_path: Path, nhi: str, ecpa: str, ca: Path | None, sam_port: int, name: str = "profile"
) -> Path:
    path = tmp_path / f"{name}.toml"
    lines = ['extends = "real"', f'ca_bundle = "{ca or ""}"']
    lines += ["[nhi]", f'base_url = "{nhi}"', "[ecpa]", f'base_url = "{ecpa}"']
    lines += ["[sam]", 'host = "127.0.0.1"', f"port = {sam_port}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("cli-ca"))


@pytest.fixture(scope="module")
def site(ca: TestCA) -> Iterator[str]:
    with https_site(ca.issue("cli-site")) as url:
        yield url.rsplit("/", 1)[0] + "/"


# -- contract ---------------------------------------------------------------------------
def test_json_shape_and_the_documented_ids(tmp_path: Path) -> None:
    code, doc, err = check_json(
        "--agent", "direct", "env", "check", "--offline", "--json", env=NO_PCSC
    )
    assert code == 10, err
    assert set(doc) == {"checks", "summary"}
    assert set(doc["summary"]) == {"pass", "warn", "fail", "skip"}
    assert sum(doc["summary"].values()) == len(doc["checks"])
    for c in doc["checks"]:
        assert set(c) == {"id", "group", "status", "summary", "detail", "fix"}
        assert c["status"] in ("pass", "warn", "fail", "skip")
        assert c["id"].startswith(c["group"] + ".")
    assert [c["id"] for c in doc["checks"]] == all_check_ids()
    # the ids are listed in the help
    help_text = run_nhicard("env", "check", "--help").stdout
    for group_line in (
        "system.pcsc-library",
        "pcsc.exclusive",
        "card.termination",
        "agent.backend",
        "network.https.SITE",
        "clock.timezone",
        "installer.checksum.N",
    ):
        assert group_line in help_text
    assert "Error: the environment check found 1 failure(s)" in err


def test_only_selects_groups_and_rejects_unknown_ones() -> None:
    code, doc, err = check_json("env", "check", "--only", "system", "--json")
    assert code == 0, err
    assert [c["id"] for c in doc["checks"]] == [
        "system.os",
        "system.python",
        "system.nhicard",
        "system.pyscard",
        "system.pcsc-library",
    ]
    proc = run_nhicard("--lang", "en", "env", "check", "--only", "system,nope")
    assert proc.returncode == 2
    assert "unknown group: nope" in proc.stderr
    proc = run_nhicard("--lang", "zh-TW", "env", "check", "--only", " , ")
    assert proc.returncode == 2  # no group at all is not "every group"
    assert "沒有指定任何群組" in proc.stderr


def test_table_marks_each_line_and_puts_fixes_under_failures() -> None:
    proc = run_nhicard(
        "--lang", "en", "env", "check", "--only", "pcsc", "--format", "table", env=NO_PCSC
    )
    assert proc.returncode == 10
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("✘ FAIL pcsc.service")
    assert lines[0].endswith("the PC/SC service is not running")
    assert lines[1].strip().startswith("→ Start the PC/SC service: sudo systemctl start pcscd")
    assert lines[2].startswith("- SKIP pcsc.context")
    assert lines[-1] == "0 passed · 0 warnings · 1 failed · 5 skipped"
    zh = run_nhicard(
        "--lang", "zh-TW", "env", "check", "--only", "pcsc", "--format", "table", env=NO_PCSC
    )
    assert "→ 啟動 PC/SC 服務:sudo systemctl start pcscd" in zh.stdout
    assert zh.stdout.splitlines()[-1] == "通過 0 · 警告 0 · 失敗 1 · 略過 5"


def test_csv_and_jsonl_give_one_row_per_check() -> None:
    proc = run_nhicard("env", "check", "--only", "system", "--format", "csv")
    assert proc.returncode == 0
    rows = proc.stdout.splitlines()
    assert rows[0] == "id,group,status,summary,detail,fix"
    assert len(rows) == 6
    proc = run_nhicard("env", "check", "--only", "system", "--format", "jsonl")
    assert [json.loads(line)["id"] for line in proc.stdout.splitlines()][0] == "system.os"


# -- installer --------------------------------------------------------------------------
def test_installer_mismatch_says_do_not_run(tmp_path: Path) -> None:
    bad = tmp_path / "Setup.zip"
    bad.write_bytes(b"not the official installer")
    for lang, text in (("en", "Do not run this file"), ("zh-TW", "請勿執行此檔案")):
        code, doc, _ = check_json(
            "env", "check", "--only", "installer", "--installer", str(bad), "--json", lang=lang
        )
        assert code == 10
        (r,) = doc["checks"]
        assert (r["id"], r["status"]) == ("installer.checksum.1", "fail")
        assert text in r["fix"]
        assert hashlib.sha256(b"not the official installer").hexdigest() in r["detail"]


def test_installer_match_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "Setup.msi"
    good.write_bytes(b"pretend official msi")
    bad = tmp_path / "other.msi"
    bad.write_bytes(b"something else")
    table = (
        installer.PublishedInstaller("Setup.msi", hashlib.md5(b"pretend official msi").hexdigest()),
    )
    monkeypatch.setattr(installer, "PUBLISHED", table)
    for lang, text in (("en", "Do not run this file"), ("zh-TW", "請勿執行此檔案")):
        with pytest.raises(SystemExit) as exc:
            main_mod.main(
                [
                    "--lang",
                    lang,
                    "env",
                    "check",
                    "--only",
                    "installer",
                    "--installer",
                    str(good),
                    "--installer",
                    str(bad),
                    "--json",
                ]
            )
        assert exc.value.code == 10
        doc = json.loads(capsys.readouterr().out)
        first, second = doc["checks"]
        assert (first["id"], first["status"], first["fix"]) == (
            "installer.checksum.1",
            "pass",
            None,
        )
        assert (second["id"], second["status"]) == ("installer.checksum.2", "fail")
        assert text in second["fix"]
    assert first["summary"] == "Setup.msi 是官方公布的 Setup.msi(MD5 相符)"
    with pytest.raises(SystemExit) as exc:
        main_mod.main(
            [
                "--lang",
                "en",
                "env",
                "check",
                "--only",
                "installer",
                "--installer",
                str(good),
                "--json",
            ]
        )
    assert exc.value.code == 0
    assert json.loads(capsys.readouterr().out)["checks"][0]["summary"] == (
        "Setup.msi is the published Setup.msi (MD5 matches)"
    )


# -- network, clock, agent through a profile file ---------------------------------------
def test_network_and_clock_pass_against_a_trusted_site(
    tmp_path: Path, ca: TestCA, site: str
) -> None:
    with silent_listener() as sam_port:
        profile = write_profile(tmp_path, site, site, ca.pem, sam_port)
        # --agent direct: nhicard's own EnCrypt, so the time zone can warn but never fail
        code, doc, err = check_json(
            "--profile", str(profile), "--agent", "direct", "env", "check", "--only",
            "network,clock", "--json",
        )  # fmt: skip
    checks = by_id(doc)
    statuses = {k: c["status"] for k, c in checks.items() if k != "clock.timezone"}
    assert statuses == dict.fromkeys(
        [
            "network.profile",
            "network.proxy",
            "network.dns.nhi",
            "network.https.nhi",
            "network.tls.nhi",
            "network.dns.ecpa",
            "network.https.ecpa",
            "network.tls.ecpa",
            "network.sam",
            "clock.offset",
        ],
        "pass",
    )
    assert checks["network.https.nhi"]["detail"].startswith(f"{site}mlogin.aspx: HTTP 200, TLSv1.3")
    assert checks["network.sam"]["summary"].startswith(f"SAM server 127.0.0.1:{sam_port} reachable")
    assert checks["clock.timezone"]["status"] in ("pass", "warn")  # by zone and hour
    assert code == 0, err


def test_untrusted_site_and_skewed_clock_fail_with_fixes_in_both_languages(
    tmp_path: Path, ca: TestCA
) -> None:
    import datetime as dt

    other = TestCA(tmp_path / "other", "unrelated CA")
    with https_site(ca.issue("skew"), date_offset=dt.timedelta(minutes=10)) as url:
        base = url.rsplit("/", 1)[0] + "/"
        # trusted but 10 minutes off; and the same server through a profile with another CA
        profile = write_profile(tmp_path, base, base, ca.pem, free_port())
        untrusted = write_profile(tmp_path, base, base, other.pem, free_port(), "untrusted")
        results = {}
        for lang in ("en", "zh-TW"):
            results[lang] = (
                check_json(
                    "--profile",
                    str(profile),
                    "env",
                    "check",
                    "--only",
                    "network,clock",
                    "--json",
                    lang=lang,
                ),
                check_json(
                    "--profile",
                    str(untrusted),
                    "env",
                    "check",
                    "--only",
                    "network",
                    "--json",
                    lang=lang,
                ),
            )
    (code, doc, _), (code_u, doc_u, _) = results["en"]
    (_, doc_zh, _), (_, doc_u_zh, _) = results["zh-TW"]
    assert code == 10 and code_u == 10
    offset = by_id(doc)["clock.offset"]
    assert offset["status"] == "fail"
    # 600 s, read to ±1 s: the Date header has whole seconds and the request takes time
    assert offset["summary"] in {f"the clock is {n} s behind" for n in (599, 600, 601)}
    assert "set-ntp" in offset["fix"] and "set-ntp" in by_id(doc_zh)["clock.offset"]["fix"]
    assert "自動設定時間" in by_id(doc_zh)["clock.offset"]["fix"]
    assert by_id(doc)["network.sam"]["status"] == "fail"
    https = by_id(doc_u)["network.https.nhi"]
    assert https["status"] == "fail"
    assert https["summary"].startswith(
        "NHI card registration site: cannot verify the certificate of 127.0.0.1: issued by "
        "CN=envcheck test CA, chaining to CN=envcheck test CA"
    )
    assert "ca_bundle" in https["fix"] and "proxy" in https["fix"]
    assert "根憑證" in by_id(doc_u_zh)["network.https.nhi"]["fix"]
    assert by_id(doc_u)["network.tls.nhi"]["status"] == "skip"


def test_agent_group_against_a_local_component(tmp_path: Path, ca: TestCA) -> None:
    profile = write_profile(
        tmp_path, "https://127.0.0.1:1/", "https://127.0.0.1:1/", ca.pem, free_port()
    )
    with wss_component(ca.issue("wss")) as url:
        code, doc, err = check_json(
            "--profile",
            str(profile),
            "--agent-url",
            url,
            "env",
            "check",
            "--only",
            "agent",
            "--json",
        )
    checks = by_id(doc)
    assert checks["agent.port"]["status"] == "pass"
    assert checks["agent.tls"]["status"] == "pass"
    assert checks["agent.version"]["summary"] == (
        "the component answers GetVersion: 0011 (a 2024 build)"
    )
    assert checks["agent.backend"]["summary"].startswith("--agent auto uses nhiicc: ")
    assert code == 0, err  # the agent group never fails


def test_everything_unreachable_finishes_with_timeouts(tmp_path: Path, ca: TestCA) -> None:
    with silent_listener() as site_port, silent_listener() as agent_port:
        base = f"https://127.0.0.1:{site_port}/"
        profile = write_profile(tmp_path, base, base, ca.pem, free_port())
        started = time.monotonic()
        code, doc, err = check_json(
            "--profile",
            str(profile),
            "--agent-url",
            f"wss://127.0.0.1:{agent_port}/echo",
            "env",
            "check",
            "--timeout",
            "1",
            "--json",
            env=NO_PCSC,
        )
        took = time.monotonic() - started
    assert code == 10, err
    checks = by_id(doc)
    for key in ("nhi", "ecpa"):
        https = checks[f"network.https.{key}"]
        assert https["status"] == "fail"
        assert https["summary"].endswith(": timed out")
        assert checks[f"network.tls.{key}"]["status"] == "skip"
    assert checks["network.sam"]["status"] == "fail"
    assert checks["clock.offset"]["status"] == "skip"
    assert checks["agent.port"]["status"] == "pass"  # something accepts connections…
    assert checks["agent.tls"]["status"] == "warn"  # …but never completes a TLS handshake
    assert "timeout" in checks["agent.tls"]["detail"]
    assert checks["pcsc.service"]["status"] == "fail"
    assert took < 15, took
