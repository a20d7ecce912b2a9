/* nhicard sandbox: the NHI registration pages' calls to the card agent (健保卡讀卡機元件).
 *
 * As the public copy of the official page script does (nhi-agent.md), this script opens a
 * WebSocket to the local component on page load (form1's data-agent-url, default
 * wss://127.0.0.1:7777/echo); when that fails it asks, with confirm(), whether to download
 * the installer (four OS links). Frames are plain text: GetBasic → hidBasic; unless
 * hidNextStep is END: GetVersion → hidVersion, GetRandom → hidRandom,
 * H_Sign?Random=<version><random> → hidSign (256 characters). After 讀取 it does NOT post the
 * form (the official btnSubmit.click() is commented out): the person's own click on the next
 * button posts the filled fields. On the login page (card + password) the login button's
 * click signs as the official script's card + password path (InnerAuthHC) does: only the
 * 16-digit random, H_Sign?Random=<random> (version still → hidVersion); then
 * EnCrypt?Pwd=<password> → hidEncPwd, and posts. Frames prefixed log: or connected: are
 * shown in an alert(), as the official page does.
 *
 * As the official shared page script does (sites.md), the card's ID number (GetBasic's second
 * field) must match ^[A-Z][12ABCD]\d{8}$: new-style resident permit numbers (second character
 * 8 or 9) are refused here, in the page, before anything is signed or filled. The sandbox's
 * server does not check this (the real server's rule is not known); the message is ours.
 */
(function () {
  "use strict";

  var AGENT_MISSING = "請檢查元件是否已正確安裝且啟動。";
  var SMC = "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/";
  var DOWNLOADS = [
    ["Windows", SMC + "Setup.zip"],
    ["macOS", "https://cloudicweb.nhi.gov.tw/cloudic/System/SMC/mac.Install1.zip"],
    ["Ubuntu", SMC + "mLNHIICC_Setup.Ubuntu.zip"],
    ["Fedora", SMC + "mLNHIICC_Setup.fedora.zip"]
  ];
  var DOWNLOAD_QUESTION = AGENT_MISSING + "\n" + DOWNLOADS.map(function (d) {
    return d[0] + ": " + d[1];
  }).join("\n") + "\n請確認是否要下載安裝程式?";
  var CODES = {
    "4041": "A001元件安裝問題，請下載元件安裝檔執行安裝[4041]",
    "4021": "A001元件安裝問題，請下載元件安裝檔執行安裝[4021]",
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
    "8009": "A001元件安裝問題，請下載元件安裝檔執行安裝[8009]",
    "8010": "讀取基本資料失敗",
    "8011": "讀取基本資料失敗",
    "8013": "無法存取健保卡,請確認讀卡機已連接且健保卡已插入",
    "8201": "服務異常",
    "8202": "服務異常",
    "8302": "PKCS#11異常",
    "8303": "PKCS#11異常",
    "8304": "Session 建立異常",
    "8305": "Session 建立異常",
    "8306": "PKCS#11異常",
    "9001": "驗簽失敗",
    "9002": "驗簽失敗",
    "9999": "A001元件安裝問題，請下載元件安裝檔執行安裝[9999]"
  };
  var ID_CHECK = /^[A-Z][12ABCD]\d{8}$/;
  var ID_REFUSED = "身分證號格式錯誤,無法申請。 The ID number on the card is not in an accepted format.";

  function codeText(code) {
    return CODES[code] || "A001元件安裝問題，請下載元件安裝檔執行安裝[" + code + "]";
  }

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
        if (isNotice(reply)) { window.alert(reply); return; }
        if (reply.indexOf(name + ":") === 0) {
          resolve(reply.substring(name.length + 1));
        } else {
          var code = reply.replace(/\s+/g, "");
          reject(new Error("[" + code + "] " + codeText(code)));
        }
      };
      ws.onclose = function () { reject(new Error(AGENT_MISSING)); };
      ws.send(command);
    });
  }

  function isNotice(text) { return text.indexOf("log:") === 0 || text.indexOf("connected:") === 0; }

  /* The socket of this page: opened on load; reopened when the component closed it. */
  var socket = null;
  function agent() {
    if (socket && socket.readyState === WebSocket.OPEN) { return Promise.resolve(socket); }
    return openAgent().then(function (ws) {
      socket = ws;
      ws.onmessage = function (event) {
        var text = String(event.data);
        if (isNotice(text)) { window.alert(text); }
      };
      ws.onclose = function () { if (socket === ws) { socket = null; } };
      return ws;
    });
  }

  function osDownload() {
    var ua = navigator.userAgent || "";
    if (/Windows/i.test(ua)) { return DOWNLOADS[0][1]; }
    if (/Mac OS X|Macintosh/i.test(ua)) { return DOWNLOADS[1][1]; }
    if (/Fedora|Red Hat/i.test(ua)) { return DOWNLOADS[3][1]; }
    return DOWNLOADS[2][1];
  }

  function offerDownload() {
    if (window.confirm(DOWNLOAD_QUESTION)) { window.location.href = osDownload(); }
  }

  function setValue(name, value) { var el = field(name); if (el) { el.value = value; } }

  async function readCard(ws, passwordField, encryptedField) {
    var basic = await call(ws, "GetBasic");
    if (!ID_CHECK.test((basic.split(",")[1] || "").trim())) { throw new Error(ID_REFUSED); }
    setValue("hidBasic", basic);
    var next = field("hidNextStep");
    if (next && next.value === "END") { return basic; }
    var version = await call(ws, "GetVersion");
    var random = await call(ws, "GetRandom");
    // card + password (InnerAuthHC): the random alone; the H_Sign path: version + random
    var sign = await call(ws, "H_Sign?Random=" + (passwordField ? random : version + random));
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
    return basic;
  }

  function restoreIdle(ws) {
    ws.onmessage = function (event) {
      var text = String(event.data);
      if (isNotice(text)) { window.alert(text); }
    };
    ws.onclose = function () { if (socket === ws) { socket = null; } };
  }

  /* 讀取: fill the hidden fields and the name; the person's next click posts them. */
  async function read(button) {
    var ws;
    try { ws = await agent(); } catch (e) { showMessage(AGENT_MISSING); offerDownload(); return; }
    try {
      var basic = await readCard(ws, null, null);
      restoreIdle(ws);
      var row = button.parentNode;
      var name = row ? row.querySelector("input[type=text]") : null;
      if (name) { name.value = basic.split(",")[2] || ""; }
      showMessage("健保卡讀取成功。 The NHI card was read.");
    } catch (e) {
      restoreIdle(ws);
      showMessage(e.message);
    }
  }

  /* The login button: read, encrypt the password, and post (this click is the person's). */
  async function login(button) {
    var ws;
    try { ws = await agent(); } catch (e) { showMessage(AGENT_MISSING); offerDownload(); return; }
    try {
      var inputs = form().querySelectorAll("input[type=password]");
      var pwd = inputs.length ? inputs[0] : null;
      var enc = form().querySelector("input[type=hidden][name^=hidEnc]");
      await readCard(ws, pwd, enc);
      restoreIdle(ws);
      __doPostBack(button.name, "");
    } catch (e) {
      restoreIdle(ws);
      showMessage(e.message);
    }
  }

  /* As the official script: the socket is opened when the page has loaded. */
  window.addEventListener("load", function () {
    if (!document.querySelector("[onclick*='NhiPage.read'], [onclick*='NhiPage.login']")) { return; }
    agent().catch(offerDownload);
  });

  window.NhiPage = {
    read: function (button) { read(button); return false; },
    login: function (button) { login(button); return false; },
    checkBrowser: function () {
      var ok = typeof window.WebSocket === "function" && typeof window.Promise === "function";
      byId("lblSetupResult").textContent = ok
        ? "瀏覽器環境正常 (WebSocket) The browser supports WebSocket."
        : "瀏覽器不支援 WebSocket,請更新瀏覽器。 The browser lacks WebSocket support.";
    },
    checkAgent: async function () {
      var out = byId("lblSetupResult");
      try {
        var ws = await agent();
        var version = await call(ws, "GetVersion");
        restoreIdle(ws);
        out.textContent = "元件版本 Component version: " + version;
      } catch (e) {
        out.textContent = e.message;
      }
    }
  };
})();
