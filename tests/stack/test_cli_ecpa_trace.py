"""``nhicard -vv ecpa login`` against the sandbox: the XHR form lines mask the card's
personal data and show the signature only by its length, as NHI forms do (issue 23)."""

from __future__ import annotations

from tests.support.cli import run_nhicard
from tests.support.flow_kit import PASSWORD, register_verified
from tests.support.sandbox_fixture import SandboxServer, sandbox, sandbox_server  # noqa: F401


def test_vv_login_trace_masks_the_birth_date_and_the_signature(sandbox: SandboxServer) -> None:  # noqa: F811
    register_verified(sandbox, PASSWORD)
    done = run_nhicard(
        "--profile", "sandbox", "--agent", "direct", "--lang", "en", "-vv", "ecpa", "login",
        "--json", env={**sandbox.env(), "NHICARD_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    forms = [line for line in done.stderr.splitlines() if "form: basic=" in line]
    assert forms, done.stderr[-3000:]
    for line in forms:
        assert "basic=*********678,A12****789,王*明,064****,M,0&" in line, line
        assert "sign=[256 chars]" in line, line
    for secret in ("0640101", "A123456789", "000012345678", PASSWORD):
        assert secret not in done.stderr, secret
