#!/usr/bin/env bash
# `make demo`: the whole job on the built-in sandbox, each command printed before it runs.
# Expects: pcscd running with the vpcd driver, nhicard installed in $BIN, NHICARD_STATE_DIR set
# to a scratch directory (the Makefile does all three). NHICARD_DEMO_PORT_BASE moves the
# sandbox's five ports (default 8440-8444).
#
# env check is a diagnosis, not a step of the job: its findings are printed and explained, and
# the job goes on (the sandbox needs nothing it may find missing). The demo exits non-zero only
# when a step of the job fails.
set -euo pipefail
BIN=${BIN:-.venv/bin}
export PATH="$(cd "$BIN" && pwd):$PATH"
: "${NHICARD_STATE_DIR:?set NHICARD_STATE_DIR to a scratch directory}"
export NHICARD_STATE_DIR
export NHICARD_PROFILE=sandbox   # every command talks to the local sandbox, not the government sites

bold=$(tput bold 2>/dev/null || true); plain=$(tput sgr0 2>/dev/null || true)
step() {
  local title=$1; shift
  printf '\n%s== %s%s\n' "$bold" "$title" "$plain"
  printf '$ %s\n' "$*"
  "$@"
}

nhicard sandbox down >/dev/null 2>&1 || true
trap 'nhicard sandbox down >/dev/null 2>&1 || true' EXIT

step "Start the sandbox: NHI site, eCPA, mail, SAM and a virtual card on vpcd / 啟動沙盒" \
  nhicard sandbox up --port-base "${NHICARD_DEMO_PORT_BASE:-8440}" --format table
endpoints=$(cat "$NHICARD_STATE_DIR/sandbox/endpoints.json")
maildir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["maildir"])' <<<"$endpoints")
elearn=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["elearn_url"])' <<<"$endpoints")

diagnose() {
  local rc=0
  step "Diagnose this workstation / 環境檢測" nhicard env check --offline --format table || rc=$?
  case $rc in
    0) ;;
    10) printf '%s\n' \
          "env check found failures (above, each with its fix). They matter for the real sites;" \
          "the sandbox job below does not depend on them, so the demo goes on." \
          "環境檢測發現失敗項目(如上,各附處理方式):使用真實網站前請先處理;以下沙盒流程不受影響,示範繼續。" ;;
    *) printf '%s\n' \
          "env check itself stopped with exit code $rc (see above); the demo goes on." \
          "環境檢測本身以結束碼 $rc 停止(見上);示範繼續。" ;;
  esac
}
diagnose
step "Readers / 讀卡機" nhicard reader list --format table
step "The card in the reader / 讀取健保卡" nhicard card read --mask --format table

# The password travels in the environment, never in argv (a user would type it at a prompt).
export NHICARD_PASSWORD='Demo-2468'
step "Steps 1-4: register on the NHI site / 註冊" \
  nhicard register --household-id F1234567 --city 台北 --district 大安 --village 龍門 \
    --neighborhood 5 --email ming@example.com --phone 02-23456789 --mobile 0912345678 --yes --format table
step "Steps 5-6: the verification mail, then 讀取 + 確定 / 收信認證" \
  nhicard verify-email --maildir "$maildir" --wait 15 --format table
step "Step 7: log in to eCPA with card + password, single sign-on into e-learning / 登入人事服務網" \
  nhicard ecpa login --return-url "${elearn%/}/sso_verify.php" --format table

printf '\n%sDone: the card password is set and eCPA accepts it. / 完成。%s\n' "$bold" "$plain"
