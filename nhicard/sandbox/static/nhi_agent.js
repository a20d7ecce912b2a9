/* nhicard sandbox: the NHI registration pages' calls to the card agent (健保卡讀卡機元件).
 *
 * As the official pages do, this script talks to the local component over a WebSocket
 * (form1's data-agent-url, default wss://127.0.0.1:7777/echo) with plain text frames:
 * GetBasic → hidBasic; unless hidNextStep is END: GetVersion → hidVersion, GetRandom →
 * hidRandom, H_Sign?Random=<version><random> → hidSign (256 characters); on the login page
 * also EnCrypt?Pwd=<password> → hidEncPwd. Then it posts the form back (__doPostBack).
 * If the component cannot be reached it says 「請檢查元件是否已正確安裝且啟動。」.
 */
(function () {
  "use strict";

  var AGENT_MISSING = "請檢查元件是否已正確安裝且啟動。";
  var CODES = {
    "4041": "網站來源不在元件允許清單 (origin not allowed)",
    "4021": "元件無法取得允許清單 (no whitelist)",
    "4061": "無法連接服務網站",
    "7001": "pcsc環境異常",
    "7002": "無法存取讀卡機",
    "7003": "無法存取讀卡機",
    "7004": "未置入健保卡",
    "8001": "讀卡異常",
    "8002": "讀卡異常",
    "8003": "認卡傳輸異常",
    "8004": "認卡傳輸異常",
    "8005": "認卡傳輸異常",
    "8006": "卡片回傳無法認卡",
    "8007": "認卡傳輸異常",
    "8008": "認卡傳輸異常",
    "8009": "密碼長度須為6至12碼",
    "8010": "讀取基本資料失敗",
    "8011": "讀取基本資料失敗",
    "8013": "無法存取健保卡,請確認讀卡機已連接且健保卡已插入",
    "9001": "驗簽失敗",
    "9002": "驗簽失敗",
    "9999": AGENT_MISSING
  };

  function byId(id) { return document.getElementById(id); }
  function form() { return byId("form1"); }
  function field(name) { var f = form(); return f ? f.elements[name] : null; }

  function showMessage(text) {
    var el = byId("lblMessage");
    if (el) { el.textContent = text; } else { window.alert(text); }
  }

  function agentUrl() {
    var f = form();
    return (f && f.getAttribute("data-agent-url")) || "wss://127.0.0.1:7777/echo";
  }

  /* One WebSocket to the component; call(cmd) resolves with the reply's value. */
  function openAgent() {
    return new Promise(function (resolve, reject) {
      var ws;
      try { ws = new WebSocket(agentUrl()); } catch (e) { reject(new Error(AGENT_MISSING)); return; }
      var timer = window.setTimeout(function () { ws.close(); reject(new Error(AGENT_MISSING)); }, 5000);
      ws.onopen = function () { window.clearTimeout(timer); resolve(ws); };
      ws.onerror = function () { window.clearTimeout(timer); reject(new Error(AGENT_MISSING)); };
    });
  }

  function call(ws, command) {
    var name = command.split("?")[0];
    return new Promise(function (resolve, reject) {
      ws.onmessage = function (event) {
        var reply = String(event.data);
        if (reply.indexOf(name + ":") === 0) {
          resolve(reply.substring(name.length + 1));
        } else {
          var code = reply.replace(/\s+/g, "");
          reject(new Error((CODES[code] || "元件回應錯誤") + " (" + code + ")"));
        }
      };
      ws.onclose = function () { reject(new Error(AGENT_MISSING)); };
      ws.send(command);
    });
  }

  function setValue(name, value) { var el = field(name); if (el) { el.value = value; } }

  async function readCard(ws, passwordField, encryptedField) {
    setValue("hidBasic", await call(ws, "GetBasic"));
    var next = field("hidNextStep");
    if (next && next.value === "END") { return; }
    var version = await call(ws, "GetVersion");
    var random = await call(ws, "GetRandom");
    var sign = await call(ws, "H_Sign?Random=" + version + random);
    if (sign.length !== 256) { throw new Error("驗簽失敗 (9001)"); }
    setValue("hidVersion", version);
    setValue("hidRandom", random);
    setValue("hidSign", sign);
    if (passwordField) {
      var pwd = passwordField.value;
      if (pwd.length < 6 || pwd.length > 12) { throw new Error(CODES["8009"] + " (8009)"); }
      encryptedField.value = await call(ws, "EnCrypt?Pwd=" + pwd);
      passwordField.value = "";
    }
  }

  async function run(button, withPassword) {
    var ws;
    try {
      ws = await openAgent();
    } catch (e) {
      showMessage(AGENT_MISSING);
      var setup = byId("divSetup");
      if (setup) { setup.scrollIntoView(); }
      return;
    }
    try {
      var pwd = null, enc = null;
      if (withPassword) {
        var inputs = form().querySelectorAll("input[type=password]");
        pwd = inputs.length ? inputs[0] : null;
        enc = form().querySelector("input[type=hidden][name^=hidEnc]");
      }
      await readCard(ws, pwd, enc);
      ws.onclose = null;
      ws.close();
      __doPostBack(button.name, "");
    } catch (e) {
      ws.onclose = null;
      ws.close();
      showMessage(e.message);
    }
  }

  window.NhiPage = {
    read: function (button) { run(button, false); return false; },
    login: function (button) { run(button, true); return false; },
    checkBrowser: function () {
      var ok = typeof window.WebSocket === "function" && typeof window.Promise === "function";
      byId("lblSetupResult").textContent = ok
        ? "瀏覽器環境正常 (WebSocket) The browser supports WebSocket."
        : "瀏覽器不支援 WebSocket,請更新瀏覽器。 The browser lacks WebSocket support.";
    },
    checkAgent: async function () {
      var out = byId("lblSetupResult");
      try {
        var ws = await openAgent();
        var version = await call(ws, "GetVersion");
        ws.onclose = null;
        ws.close();
        out.textContent = "元件版本 Component version: " + version;
      } catch (e) {
        out.textContent = e.message;
      }
    }
  };
})();
