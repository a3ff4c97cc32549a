/* cxloop chat widget. Embed with
     <script src="https://YOUR-CXLOOP/chat/widget.js" data-write-key="WRITE_KEY" data-inbox="INBOX_ID" async></script>
   Optional: data-user-id="…" with data-user-hash="…" (HMAC-SHA256 of the user id under the
   workspace's identity secret, computed by your server; without it the visitor is anonymous),
   data-locale="ko|en".
   No dependencies, no inline styles or eval (CSP-friendly: styles are set through the CSSOM);
   text is only ever set as text. The visitor is the one the analytics snippet knows
   (ajs_anonymous_id in localStorage or a cookie), so the chat continues their profile. */
(function () {
  "use strict";

  var ANON_KEY = "ajs_anonymous_id";
  var script = document.currentScript;
  if (!script) {
    var found = document.querySelectorAll("script[data-write-key][src*='/chat/widget.js']");
    script = found[found.length - 1];
  }
  if (!script || window.__cxloopChatWidget) {
    return;
  }
  window.__cxloopChatWidget = true;

  var writeKey = script.getAttribute("data-write-key") || "";
  var inboxId = parseInt(script.getAttribute("data-inbox") || "0", 10);
  var userId = script.getAttribute("data-user-id") || "";
  var userHash = script.getAttribute("data-user-hash") || "";
  var locale = script.getAttribute("data-locale") || navigator.language || "";
  var base = new URL(script.src, window.location.href).origin;
  var TOKEN_KEY = "cxloop_chat_" + inboxId;

  var state = { token: "", open: true, labels: {}, shown: {}, lastId: 0, lastTeamId: 0, readUpTo: 0, stream: null, started: false };

  function storage() {
    try {
      return window.localStorage;
    } catch (e) {
      return null;
    }
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i += 1) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) {
        return parts[i].slice(eq + 1);
      }
    }
    return "";
  }

  function unquote(value) {
    if (!value) {
      return "";
    }
    try {
      value = decodeURIComponent(value);
    } catch (e) {
      /* keep it */
    }
    if (value.charAt(0) === "\"") {
      try {
        return String(JSON.parse(value));
      } catch (e2) {
        return value.replace(/"/g, "");
      }
    }
    return value;
  }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i += 1) {
      hex += (bytes[i] + 256).toString(16).slice(1);
    }
    return hex;
  }

  function anonymousId() {
    var store = storage();
    var id = unquote(store ? store.getItem(ANON_KEY) : "") || unquote(readCookie(ANON_KEY));
    if (!id) {
      id = newId();
      try {
        if (store) {
          store.setItem(ANON_KEY, JSON.stringify(id));
        }
      } catch (e) {
        /* private mode: the cookie keeps it */
      }
      document.cookie = ANON_KEY + "=" + encodeURIComponent(id) + "; path=/; max-age=31536000; SameSite=Lax";
    }
    return id;
  }

  function style(el, rules) {
    Object.keys(rules).forEach(function (key) {
      el.style.setProperty(key, rules[key]);
    });
    return el;
  }

  function make(tag, className, rules) {
    var el = document.createElement(tag);
    if (className) {
      el.className = className;
    }
    return rules ? style(el, rules) : el;
  }

  function label(key, fallback) {
    return state.labels[key] || fallback;
  }

  function call(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (state.token) {
      headers.Authorization = "Bearer " + state.token;
    }
    return fetch(base + path, {
      method: method,
      headers: headers,
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      mode: "cors"
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = new Error((data && data.detail) || response.statusText);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  /* --- the elements --- */
  var narrow = window.matchMedia("(max-width: 480px)").matches;
  var launcher = make("button", "cxloop-chat-launcher", {
    position: "fixed", right: "16px", bottom: "16px", "z-index": "2147483000",
    width: "56px", height: "56px", "border-radius": "28px", border: "0",
    background: "#2f5bea", color: "#fff", "font-size": "24px", cursor: "pointer",
    "box-shadow": "0 4px 14px rgba(0,0,0,.25)"
  });
  launcher.type = "button";
  launcher.textContent = "\u2709";
  launcher.setAttribute("aria-label", "Chat");

  var panel = make("section", "cxloop-chat", {
    position: "fixed", "z-index": "2147483001", display: "none", "flex-direction": "column",
    background: "#fff", color: "#1d1d1f", "font-family": "system-ui, 'Apple SD Gothic Neo', 'Noto Sans KR', 'NanumGothic', sans-serif",
    "font-size": "15px", "box-shadow": "0 8px 28px rgba(0,0,0,.28)", overflow: "hidden"
  });
  if (narrow) {
    style(panel, { left: "0", right: "0", top: "0", bottom: "0", width: "100%", height: "100%" });
  } else {
    style(panel, { right: "16px", bottom: "84px", width: "360px", height: "min(560px, calc(100vh - 110px))", "border-radius": "12px" });
  }
  panel.setAttribute("role", "dialog");

  var head = make("header", "cxloop-chat-head", {
    display: "flex", "align-items": "center", "justify-content": "space-between",
    padding: "12px 14px", background: "#2f5bea", color: "#fff"
  });
  var title = make("strong", "cxloop-chat-title");
  var hours = make("span", "cxloop-chat-hours", { "font-size": "12px", opacity: ".9", "margin-left": "8px" });
  var titleBox = make("div");
  titleBox.appendChild(title);
  titleBox.appendChild(hours);
  var close = make("button", "cxloop-chat-close", {
    background: "transparent", border: "0", color: "#fff", "font-size": "22px", cursor: "pointer", "min-width": "44px", "min-height": "44px"
  });
  close.type = "button";
  close.textContent = "\u00d7";
  head.appendChild(titleBox);
  head.appendChild(close);

  var log = make("ol", "cxloop-chat-log", {
    flex: "1", margin: "0", padding: "12px", "list-style": "none", "overflow-y": "auto", background: "#f6f7f9"
  });
  log.setAttribute("aria-live", "polite");
  var typing = make("p", "cxloop-chat-typing", { margin: "0", padding: "2px 14px", "font-size": "12px", color: "#666", "min-height": "16px" });

  var form = make("form", "cxloop-chat-form", { display: "flex", "flex-direction": "column", gap: "6px", padding: "10px", "border-top": "1px solid #e3e5ea" });
  var offline = make("div", "cxloop-chat-offline", { display: "none", "flex-direction": "column", gap: "6px" });
  var offlineIntro = make("p", "", { margin: "0", "font-size": "13px", color: "#444" });
  offline.appendChild(offlineIntro);
  function field(name, type) {
    var input = make("input", "cxloop-chat-" + name, { padding: "8px", border: "1px solid #c9ccd3", "border-radius": "6px", "font-size": "15px" });
    input.type = type;
    input.name = name;
    input.maxLength = name === "email" ? 320 : 100;
    offline.appendChild(input);
    return input;
  }
  var nameInput = field("name", "text");
  var emailInput = field("email", "email");
  var phoneInput = field("phone", "tel");
  var row = make("div", "", { display: "flex", gap: "6px" });
  var text = make("textarea", "cxloop-chat-text", {
    flex: "1", resize: "none", padding: "8px", border: "1px solid #c9ccd3", "border-radius": "6px", "font-size": "15px", "min-height": "44px"
  });
  text.rows = 2;
  text.maxLength = 5000;
  var send = make("button", "cxloop-chat-send", {
    "min-width": "64px", "min-height": "44px", border: "0", "border-radius": "6px", background: "#2f5bea", color: "#fff", cursor: "pointer", "font-size": "15px"
  });
  send.type = "submit";
  row.appendChild(text);
  row.appendChild(send);
  var error = make("p", "cxloop-chat-error", { margin: "0", color: "#b00020", "font-size": "13px", display: "none" });
  error.setAttribute("role", "alert");
  form.appendChild(offline);
  form.appendChild(row);
  form.appendChild(error);

  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);

  function applyLabels() {
    title.textContent = label("title", "Chat");
    hours.textContent = state.open ? label("open", "") : label("closed", "");
    text.placeholder = label("placeholder", "Message");
    send.textContent = label("send", "Send");
    close.setAttribute("aria-label", label("close", "Close"));
    launcher.setAttribute("aria-label", label("launcher", "Chat"));
    panel.setAttribute("aria-label", label("title", "Chat"));
    offlineIntro.textContent = label("offline_intro", "");
    nameInput.placeholder = label("name", "Name");
    emailInput.placeholder = label("email", "Email");
    phoneInput.placeholder = label("phone", "Phone");
    style(offline, { display: state.open ? "none" : "flex" });
  }

  /* The text as text; web addresses in it (a survey link, a tracking page) as links. */
  function fill(element, text, mine) {
    var parts = String(text).split(/(https?:\/\/[^\s<>"']+)/);
    parts.forEach(function (part, index) {
      if (index % 2 === 1) {
        var anchor = make("a", "cxloop-chat-link", { color: mine ? "#fff" : "#2f5bea", "text-decoration": "underline" });
        anchor.href = part;
        anchor.target = "_blank";
        anchor.rel = "noopener noreferrer";
        anchor.textContent = part;
        element.appendChild(anchor);
      } else if (part) {
        element.appendChild(document.createTextNode(part));
      }
    });
  }

  function show(message) {
    if (state.shown[message.id]) {
      return;
    }
    state.shown[message.id] = true;
    state.lastId = Math.max(state.lastId, message.id);
    var mine = message.from === "visitor";
    var item = make("li", "cxloop-chat-message " + (mine ? "from-visitor" : "from-team"), {
      margin: "6px 0", display: "flex", "justify-content": mine ? "flex-end" : "flex-start"
    });
    var bubble = make("div", "cxloop-chat-bubble", {
      "max-width": "80%", padding: "8px 11px", "border-radius": "12px", "white-space": "pre-wrap",
      "overflow-wrap": "anywhere", background: mine ? "#2f5bea" : "#fff", color: mine ? "#fff" : "#1d1d1f",
      border: mine ? "0" : "1px solid #e3e5ea"
    });
    fill(bubble, message.text, mine);
    item.setAttribute("data-id", String(message.id));
    item.appendChild(bubble);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    if (!mine) {
      typing.textContent = "";
      state.lastTeamId = Math.max(state.lastTeamId, message.id);
      window.setTimeout(reportRead, 0);
    }
  }

  /* The visitor has seen the team's messages shown in the open panel: said once per new one. */
  function reportRead() {
    if (!state.token || panel.style.display === "none" || state.lastTeamId <= state.readUpTo) {
      return;
    }
    state.readUpTo = state.lastTeamId;
    call("POST", "/chat/v1/read", { upTo: state.readUpTo }).catch(function () { /* a hint only */ });
  }

  function showError(message) {
    error.textContent = message || "";
    style(error, { display: message ? "block" : "none" });
  }

  function catchUp() {
    return call("GET", "/chat/v1/messages?after=" + state.lastId).then(function (data) {
      data.messages.forEach(show);
    });
  }

  function listen() {
    if (state.stream || !window.EventSource) {
      return;
    }
    var stream = new EventSource(base + "/chat/v1/stream?token=" + encodeURIComponent(state.token));
    state.stream = stream;
    var dropped = false;
    stream.addEventListener("message", function (event) {
      var data = JSON.parse(event.data);
      if (data.message) {
        show(data.message);
      }
    });
    stream.addEventListener("typing", function () {
      typing.textContent = label("typing", "…");
      window.clearTimeout(state.typingTimer);
      state.typingTimer = window.setTimeout(function () { typing.textContent = ""; }, 6000);
    });
    stream.addEventListener("resync", function () { catchUp(); });
    stream.onerror = function () { dropped = true; };
    stream.onopen = function () {
      if (dropped) {
        dropped = false;
        catchUp();
      }
    };
  }

  function start() {
    if (state.started) {
      return Promise.resolve();
    }
    state.started = true;
    var store = storage();
    var body = { writeKey: writeKey, inbox: inboxId, anonymousId: anonymousId(), locale: locale };
    if (userId) {
      body.userId = userId;
      body.userHash = userHash;
    }
    var kept = store ? store.getItem(TOKEN_KEY) : "";
    if (kept) {
      body.token = kept;
    }
    return call("POST", "/chat/v1/session", body).then(function (data) {
      state.token = data.token;
      state.open = data.open;
      state.labels = data.labels || {};
      try {
        if (store) {
          store.setItem(TOKEN_KEY, data.token);
        }
      } catch (e) {
        /* kept for this page only */
      }
      applyLabels();
      data.messages.forEach(show);
      listen();
    }, function (err) {
      state.started = false;
      showError(err.message);
    });
  }

  function post(payload, attempt) {
    return call("POST", "/chat/v1/messages", payload).catch(function (err) {
      if (!err.status && attempt < 3) {
        /* no answer: send the same message (the same clientId) again; it is stored once */
        return new Promise(function (resolve) { window.setTimeout(resolve, 800 * attempt); }).then(function () {
          return post(payload, attempt + 1);
        });
      }
      throw err;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = text.value.trim();
    if (!value) {
      return;
    }
    send.disabled = true;
    showError("");
    start().then(function () {
      var payload = { text: value, clientId: newId() };
      if (!state.open) {
        payload.name = nameInput.value;
        payload.email = emailInput.value;
        payload.phone = phoneInput.value;
      }
      return post(payload, 1).then(function (data) {
        text.value = "";
        show(data.message);
      });
    }).catch(function (err) {
      showError(err.message || label("failed", "Not sent"));
    }).then(function () {
      send.disabled = false;
      text.focus();
    });
  });

  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : send.click();
    }
  });

  var lastTyping = 0;
  text.addEventListener("input", function () {
    var now = Date.now();
    if (state.token && now - lastTyping > 4000) {
      lastTyping = now;
      call("POST", "/chat/v1/typing").catch(function () { /* a hint only */ });
    }
  });

  function toggle(open) {
    style(panel, { display: open ? "flex" : "none" });
    style(launcher, { display: open && narrow ? "none" : "block" });
    if (open) {
      start().then(reportRead);
      text.focus();
    }
  }
  launcher.addEventListener("click", function () {
    toggle(panel.style.display === "none");
  });
  close.addEventListener("click", function () { toggle(false); });

  function mount() {
    document.body.appendChild(panel);
    document.body.appendChild(launcher);
    var store = storage();
    if (store && store.getItem(TOKEN_KEY)) {
      start(); /* a returning visitor: replies that came meanwhile are there when they open */
    }
  }
  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
})();
