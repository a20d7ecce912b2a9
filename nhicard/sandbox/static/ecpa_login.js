/* Sandbox eCPA login page script.
 *
 * The NHI-card column runs this chain (see nhicard/sandbox/ecpa_site.py):
 *   1. POST api/GetNHIChallenge            -> {"result":"0000","random":"<16 digits>"}
 *   2. card agent (WebSocket, data-agent-url): GetBasic, GetVersion,
 *      H_Sign?Random=<version><random>, EnCrypt?Pwd=<password>
 *   3. POST api/NHICardLogin {basic, version, random, sign, password, returnUrl}
 *   4. with a returnUrl: POST api/GetApTicket {returnUrl} -> {action, APReqEncodedData},
 *      then a hidden form carrying APReqEncodedData is posted to the relying party;
 *      without: go to the "next" page (eCPA home).
 * The other three columns ask api/GetUID, which answers that the sandbox does not offer them.
 */
(function () {
  "use strict";

  var form = document.getElementById("form1");
  var apiBase = form.getAttribute("data-api-base");
  var agentUrl = form.getAttribute("data-agent-url");
  var box = document.getElementById("loginMessage");
  var returnUrl = document.getElementById("hidReturnUrl").value;

  var AGENT_ERRORS = {
    "4041": ["此網站未被元件允許", "this site is not allowed by the card component"],
    "4021": ["元件無法取得允許清單", "the card component has no site whitelist"],
    "4061": ["無法連接服務網站", "cannot reach the NHI service"],
    "7001": ["pcsc環境異常", "PC/SC is not available"],
    "7002": ["無法存取讀卡機", "cannot access the card reader"],
    "7003": ["無法存取讀卡機", "cannot access the card reader"],
    "7004": ["未置入健保卡", "no NHI card inserted"],
    "8001": ["讀卡異常", "reading the card failed"],
    "8002": ["讀卡異常", "reading the card failed"],
    "8003": ["認卡傳輸異常", "card authentication transport failure"],
    "8004": ["認卡傳輸異常", "card authentication transport failure"],
    "8005": ["認卡傳輸異常", "card authentication transport failure"],
    "8006": ["卡片回傳無法認卡", "the card refused the authentication"],
    "8007": ["認卡傳輸異常", "card authentication transport failure"],
    "8008": ["認卡傳輸異常", "card authentication transport failure"],
    "8009": ["密碼長度須為6至12碼", "the password must have 6 to 12 characters"],
    "8010": ["讀取基本資料失敗", "reading the card data failed"],
    "8011": ["讀取基本資料失敗", "reading the card data failed"],
    "8013": ["無法存取健保卡,請確認讀卡機已接上並已插入健保卡",
             "cannot access the card: is the reader plugged in and the card inserted?"],
    "9001": ["驗簽失敗", "signature verification failed"],
    "9002": ["驗簽失敗", "signature verification failed"],
    "9999": ["元件未正確安裝", "the card component is not installed properly"]
  };
  var NO_AGENT = ["請檢查元件是否已正確安裝且啟動。",
                  "Check that the card component is installed and running."];

  function show(zh, en, kind) {
    box.className = "message " + (kind || "error");
    box.textContent = "";
    box.appendChild(document.createTextNode(zh));
    box.appendChild(document.createElement("br"));
    var span = document.createElement("span");
    span.className = "en";
    span.textContent = en;
    box.appendChild(span);
  }

  function postJson(name, body) {
    return fetch(apiBase + name, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (r) { return r.json(); });
  }

  function fail(reply) {
    var err = new Error(reply.message || "error");
    err.reply = reply;
    return err;
  }

  /* One WebSocket to the card agent; commands are sent one after another. */
  function openAgent(url) {
    return new Promise(function (resolve, reject) {
      var ws;
      try { ws = new WebSocket(url); } catch (e) { reject(fail({ zh: NO_AGENT[0], en: NO_AGENT[1] })); return; }
      ws.onopen = function () { resolve(ws); };
      ws.onerror = function () { reject(fail({ zh: NO_AGENT[0], en: NO_AGENT[1] })); };
    });
  }

  function agentCall(ws, command, prefix) {
    return new Promise(function (resolve, reject) {
      ws.onmessage = function (event) {
        var text = String(event.data);
        if (text.indexOf(prefix + ":") === 0) { resolve(text.substring(prefix.length + 1)); return; }
        var known = AGENT_ERRORS[text] || ["元件回應錯誤", "the card component answered an error"];
        reject(fail({ zh: known[0] + "(" + text + ")", en: known[1] + " (" + text + ")" }));
      };
      ws.onerror = function () { reject(fail({ zh: NO_AGENT[0], en: NO_AGENT[1] })); };
      ws.send(command);
    });
  }

  function postToRelyingParty(action, token) {
    var f = document.createElement("form");
    f.method = "post";
    f.action = action;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "APReqEncodedData";
    input.value = token;
    f.appendChild(input);
    document.body.appendChild(f);
    f.submit();
  }

  function nhiLogin() {
    var pwd = document.getElementById("nhiPassword").value;
    if (pwd.length < 6 || pwd.length > 12) {
      show("密碼長度須為6至12碼", "The password must have 6 to 12 characters.");
      return;
    }
    show("登入中,請勿移除健保卡…", "Signing in, keep the card in the reader…", "info");
    var ws, challenge, basic, version, sign;
    postJson("GetNHIChallenge").then(function (reply) {
      if (reply.result !== "0000") { throw fail(reply); }
      challenge = reply.random;
      return openAgent(agentUrl);
    }).then(function (socket) {
      ws = socket;
      return agentCall(ws, "GetBasic", "GetBasic");
    }).then(function (b) {
      basic = b;
      return agentCall(ws, "GetVersion", "GetVersion");
    }).then(function (v) {
      version = v;
      return agentCall(ws, "H_Sign?Random=" + version + challenge, "H_Sign");
    }).then(function (s) {
      if (s.length !== 256) { throw fail({ zh: AGENT_ERRORS["9001"][0], en: AGENT_ERRORS["9001"][1] }); }
      sign = s;
      return agentCall(ws, "EnCrypt?Pwd=" + pwd, "EnCrypt");
    }).then(function (encrypted) {
      ws.close();
      return postJson("NHICardLogin", {
        basic: basic, version: version, random: challenge, sign: sign,
        password: encrypted, returnUrl: returnUrl
      });
    }).then(function (reply) {
      if (reply.result !== "0000") { throw fail(reply); }
      if (reply.returnUrl) {
        return postJson("GetApTicket", { returnUrl: reply.returnUrl }).then(function (ticket) {
          if (ticket.result !== "0000") { throw fail(ticket); }
          postToRelyingParty(ticket.action, ticket.APReqEncodedData);
        });
      }
      window.location.href = reply.next;
    }).catch(function (err) {
      if (ws) { try { ws.close(); } catch (e) { /* already closed */ } }
      var r = err.reply || {};
      show(r.message_zh || r.zh || "登入失敗", r.message_en || r.en || "Login failed");
    });
  }

  function otherMethod(method) {
    postJson("GetUID", { method: method }).then(function (reply) {
      show(reply.message_zh, reply.message_en);
    }).catch(function () {
      show("登入失敗", "Login failed");
    });
  }

  document.getElementById("btnNhiLogin").addEventListener("click", function (e) {
    e.preventDefault();
    nhiLogin();
  });
  ["btnAccountLogin", "btnCitizenLogin", "btnAgencyLogin"].forEach(function (id) {
    var button = document.getElementById(id);
    button.addEventListener("click", function (e) {
      e.preventDefault();
      otherMethod(button.getAttribute("data-method"));
    });
  });

  var sso = document.getElementById("ssoForm");
  if (sso) { sso.submit(); }
})();
