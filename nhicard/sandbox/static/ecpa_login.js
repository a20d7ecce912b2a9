/* Sandbox eCPA login page script (see nhicard/sandbox/ecpa_site.py).
 *
 * As the real page's script (recorded session, sites.md), every call is an XHR POST,
 * form-urlencoded, with X-Requested-With: XMLHttpRequest, answering plain text:
 *   account/password column:
 *     Home/GetUID account -> ID number; Home/GetApTicketV2 account, password, ApID -> ticket
 *     (uppercase hex); Home/EnterTwoWayLog account, loginType=0, sn, ticket, appId -> 0;
 *     Home/EnterApplicationTwoWay appId -> 0
 *   NHI-card column (OUR GUESS of the unpublished chain):
 *     Home/GetNHIRandom -> 16 digits; card agent GetBasic, GetVersion,
 *     H_Sign?Random=<version><random>, EnCrypt?Pwd=<password>; Home/GetApTicketNHI basic,
 *     version, random, sign, password, ApID, loginType=3 -> ticket; EnterTwoWayLog
 *     (account=<ID>, loginType=3, sn=<card number>); EnterApplicationTwoWay
 * then a hidden form posts loginType and APReqEncodedData to the returnUrl, or without one
 * the page goes to eCPA's home. The real page does not use jQuery here only because the
 * sandbox ships no third-party code; the requests are the same.
 */
(function () {
  "use strict";

  var form = document.getElementById("form1");
  var apiBase = form.getAttribute("data-api-base");
  var agentUrl = form.getAttribute("data-agent-url");
  var appId = form.getAttribute("data-app-id");
  var box = document.getElementById("loginMessage");
  var returnUrl = document.getElementById("hidReturnUrl").value;
  var HOME = "/webform/home.aspx";
  var NO_AGENT = ["請檢查元件是否已正確安裝且啟動。",
                  "Check that the card component is installed and running."];

  var WRONG_PASSWORD = "帳號或密碼錯誤。 / Wrong account or password.";

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

  function fail(text) {
    var i = text.indexOf(" / ");
    var err = new Error(text);
    err.zh = i >= 0 ? text.substring(0, i) : text;
    err.en = i >= 0 ? text.substring(i + 3) : text;
    return err;
  }

  /* One $.ajax-style call: form-urlencoded in, plain text out; ok(text) decides success. */
  function post(name, fields, ok) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", apiBase + name);
      xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8");
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.onload = function () {
        var text = String(xhr.responseText).trim();
        if (xhr.status === 200 && ok(text)) { resolve(text); } else { reject(fail(text)); }
      };
      xhr.onerror = function () { reject(fail("連線失敗 / Connection failed")); };
      var body = Object.keys(fields).map(function (k) {
        return encodeURIComponent(k) + "=" + encodeURIComponent(fields[k]);
      }).join("&");
      xhr.send(body);
    });
  }
  function isUid(t) { return /^[A-Z][A-Z0-9][0-9]{8}$/.test(t); }
  function isTicket(t) { return /^([0-9A-F]{2}){32,}$/.test(t); }
  function isZero(t) { return t === "0"; }
  function isRandom(t) { return /^[0-9]{16}$/.test(t); }

  function openAgent(url) {
    return new Promise(function (resolve, reject) {
      var ws;
      try { ws = new WebSocket(url); } catch (e) { reject(fail(NO_AGENT.join(" / "))); return; }
      ws.onopen = function () { resolve(ws); };
      ws.onerror = function () { reject(fail(NO_AGENT.join(" / "))); };
    });
  }

  function agentCall(ws, command, prefix) {
    return new Promise(function (resolve, reject) {
      ws.onmessage = function (event) {
        var text = String(event.data);
        if (text.indexOf("log:") === 0 || text.indexOf("connected:") === 0) { return; }
        if (text.indexOf(prefix + ":") === 0) { resolve(text.substring(prefix.length + 1)); return; }
        reject(fail("A001元件安裝問題，請下載元件安裝檔執行安裝[" + text + "] / " +
                    "card component problem [" + text + "]"));
      };
      ws.onerror = function () { reject(fail(NO_AGENT.join(" / "))); };
      ws.send(command);
    });
  }

  function finish(loginType, ticket) {
    if (!returnUrl) { window.location.href = HOME; return; }
    var f = document.createElement("form");
    f.method = "post";
    f.action = returnUrl;
    [["loginType", loginType], ["APReqEncodedData", ticket]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      f.appendChild(input);
    });
    document.body.appendChild(f);
    f.submit();
  }

  function twoWay(account, loginType, sn) {
    return post("EnterTwoWayLog", { account: account, loginType: loginType, sn: sn,
                                    ticket: "", appId: appId }, isZero)
      .then(function () { return post("EnterApplicationTwoWay", { appId: appId }, isZero); });
  }

  function shown(err) { show(err.zh || "登入失敗", err.en || "Login failed"); }

  function accountLogin() {
    var account = document.getElementById("txtAccount").value.trim();
    var pwd = document.getElementById("txtPassword").value;
    if (!account || !pwd) { show("請輸入帳號及密碼", "Enter the account and the password."); return; }
    show("登入中…", "Signing in…", "info");
    var ticket;
    post("GetUID", { account: account }, isUid).then(function () {
      return post("GetApTicketV2", { account: account, password: pwd, ApID: appId }, isTicket)
        .catch(function (err) {
          /* the real GetApTicketV2 answers a wrong password with an empty body or "0" */
          if (err.message === "" || err.message === "0") { throw fail(WRONG_PASSWORD); }
          throw err;
        });
    }).then(function (t) {
      ticket = t;
      return twoWay(account, "0", "");
    }).then(function () { finish("0", ticket); }).catch(shown);
  }

  function nhiLogin() {
    var pwd = document.getElementById("nhiPassword").value;
    if (pwd.length < 6 || pwd.length > 12) {
      show("密碼長度須為6至12碼", "The password must have 6 to 12 characters.");
      return;
    }
    show("登入中,請勿移除健保卡…", "Signing in, keep the card in the reader…", "info");
    var ws, random, basic, version, sign, ticket;
    post("GetNHIRandom", {}, isRandom).then(function (r) {
      random = r;
      return openAgent(agentUrl);
    }).then(function (socket) {
      ws = socket;
      return agentCall(ws, "GetBasic", "GetBasic");
    }).then(function (b) {
      basic = b;
      return agentCall(ws, "GetVersion", "GetVersion");
    }).then(function (v) {
      version = v;
      return agentCall(ws, "H_Sign?Random=" + version + random, "H_Sign");
    }).then(function (s) {
      if (s.length !== 256) { throw fail("驗簽失敗 / signature verification failed"); }
      sign = s;
      return agentCall(ws, "EnCrypt?Pwd=" + pwd, "EnCrypt");
    }).then(function (encrypted) {
      ws.close();
      return post("GetApTicketNHI", { basic: basic, version: version, random: random,
                                      sign: sign, password: encrypted, ApID: appId,
                                      loginType: "3" }, isTicket);
    }).then(function (t) {
      ticket = t;
      var parts = basic.split(",");
      return twoWay(parts[1], "3", parts[0]);
    }).then(function () { finish("3", ticket); }).catch(function (err) {
      if (ws) { try { ws.close(); } catch (e) { /* already closed */ } }
      shown(err);
    });
  }

  document.getElementById("btnAccountLogin").addEventListener("click", function (e) {
    if (!e.isTrusted) { return; }  /* as the real page: only a person's own click */
    accountLogin();
  });
  document.getElementById("btnNhiLogin").addEventListener("click", function (e) {
    if (!e.isTrusted) { return; }
    nhiLogin();
  });
  ["btnCitizenLogin", "btnAgencyLogin", "btnMobileCertLogin"].forEach(function (id) {
    document.getElementById(id).addEventListener("click", function () {
      show("沙盒不提供此登入方式。", "This login method is not available in the sandbox.");
    });
  });

  var sso = document.getElementById("ssoForm");
  if (sso) { sso.submit(); }
})();
