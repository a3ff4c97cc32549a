/* cxloop survey widget. Embed with
     <script src="https://YOUR-CXLOOP/widget/survey.js" data-write-key="WRITE_KEY" async></script>
   Optional: data-user-id="…" (your user id) with data-user-hash="…" (its HMAC-SHA256 under the
   workspace's identity secret, computed by your server; without it the user id is ignored and
   the visitor is anonymous), data-locale="ko|en".
   No dependencies, no inline styles or eval (CSP-friendly: styles are set through the CSSOM).
   The visitor is recognised by the anonymous id analytics.js keeps (ajs_anonymous_id in
   localStorage or a cookie); one is made and kept the same way when the page has none. */
(function () {
  "use strict";

  var ANON_KEY = "ajs_anonymous_id";
  var DISMISSED_KEY = "cxloop_survey_dismissed";
  var script = document.currentScript;
  if (!script) {
    var found = document.querySelectorAll("script[data-write-key][src*='/widget/survey.js']");
    script = found[found.length - 1];
  }
  if (!script || window.__cxloopSurveyWidget) {
    return;
  }
  window.__cxloopSurveyWidget = true;

  var writeKey = script.getAttribute("data-write-key") || "";
  var userId = script.getAttribute("data-user-id") || "";
  var userHash = script.getAttribute("data-user-hash") || "";
  var locale = script.getAttribute("data-locale") || navigator.language || "";
  var base = new URL(script.src, window.location.href).origin;

  function unquote(value) {
    if (!value) {
      return "";
    }
    try {
      value = decodeURIComponent(value);
    } catch (e) {
      /* keep it as it is */
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

  function storage() {
    try {
      return window.localStorage;
    } catch (e) {
      return null;
    }
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
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function anonymousId() {
    var store = storage();
    var id = unquote(store ? store.getItem(ANON_KEY) : "") || unquote(readCookie(ANON_KEY));
    if (!id) {
      id = newId();
      if (store) {
        try {
          store.setItem(ANON_KEY, JSON.stringify(id));
        } catch (e) {
          /* private mode: the cookie still keeps it */
        }
      }
      document.cookie = ANON_KEY + "=" + encodeURIComponent(id) +
        "; path=/; max-age=31536000; SameSite=Lax";
    }
    return id;
  }

  function dismissed() {
    var store = storage();
    try {
      return JSON.parse((store && store.getItem(DISMISSED_KEY)) || "[]");
    } catch (e) {
      return [];
    }
  }

  function remember(invitationId) {
    var store = storage();
    var list = dismissed();
    list.push(invitationId);
    try {
      if (store) {
        store.setItem(DISMISSED_KEY, JSON.stringify(list.slice(-50)));
      }
    } catch (e) {
      /* nothing to keep it in */
    }
  }

  function query(extra) {
    var params = new URLSearchParams({ writeKey: writeKey, anonymousId: visitor });
    if (userId) {
      params.set("userId", userId);
      if (userHash) {
        params.set("userHash", userHash);
      }
    }
    Object.keys(extra || {}).forEach(function (key) {
      params.set(key, extra[key]);
    });
    return params.toString();
  }

  function style(element, rules) {
    Object.keys(rules).forEach(function (name) {
      element.style[name] = rules[name];
    });
    return element;
  }

  function make(tag, rules, text) {
    var element = style(document.createElement(tag), rules || {});
    if (text) {
      element.textContent = text;
    }
    return element;
  }

  function panel(title, closeLabel, onClose) {
    var box = make("div", {
      position: "fixed", right: "16px", bottom: "16px", zIndex: "2147483000",
      width: "min(380px, calc(100vw - 32px))", background: "#ffffff", color: "#1f2933",
      borderRadius: "12px", boxShadow: "0 12px 32px rgba(15, 23, 42, 0.25)",
      overflow: "hidden", fontFamily: "system-ui, -apple-system, 'Apple SD Gothic Neo', " +
        "'Malgun Gothic', 'Noto Sans KR', sans-serif", fontSize: "14px"
    });
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", title);
    box.className = "cxloop-survey-widget";
    var head = make("div", {
      display: "flex", alignItems: "center", justifyContent: "space-between",
      padding: "10px 12px 10px 16px", background: "#2457d6", color: "#ffffff"
    });
    head.appendChild(make("strong", { fontSize: "14px" }, title));
    var close = make("button", {
      background: "transparent", border: "0", color: "#ffffff", fontSize: "20px",
      lineHeight: "20px", cursor: "pointer", padding: "2px 6px"
    }, "×");
    close.type = "button";
    close.setAttribute("aria-label", closeLabel);
    close.className = "cxloop-survey-close";
    close.addEventListener("click", function () {
      box.parentNode.removeChild(box);
      onClose();
    });
    head.appendChild(close);
    box.appendChild(head);
    return box;
  }

  function showNotices(reply) {
    var box = panel(reply.labels.notices_title, reply.labels.close, function () {});
    box.className += " cxloop-survey-notices";
    reply.notices.forEach(function (notice) {
      var item = make("div", { padding: "12px 16px", borderTop: "1px solid #e4e7eb" });
      item.appendChild(make("div", { fontWeight: "600", marginBottom: "4px" }, notice.title));
      item.appendChild(make("div", { lineHeight: "1.5", whiteSpace: "pre-line" }, notice.body));
      box.appendChild(item);
      fetch(base + "/widget/v1/notices/" + encodeURIComponent(notice.id) + "/seen?" + query(),
        { method: "POST", mode: "cors", credentials: "omit", keepalive: true })
        .catch(function () { /* shown again next time */ });
    });
    document.body.appendChild(box);
    return box;
  }

  function showSurvey(reply, below) {
    var survey = reply.survey;
    var box = panel(reply.labels.survey_title, reply.labels.close, function () {
      remember(survey.invitation_id);
    });
    if (below) {
      style(box, { bottom: (below.offsetHeight + 28) + "px" });
    }
    var frame = make("iframe", { display: "block", width: "100%", height: "480px", border: "0" });
    frame.src = survey.url;
    frame.title = reply.labels.survey_title;
    frame.setAttribute("loading", "lazy");
    box.appendChild(frame);
    document.body.appendChild(box);
  }

  var visitor = anonymousId();

  function start() {
    fetch(base + "/widget/v1/prompt?" + query({ locale: locale }),
      { mode: "cors", credentials: "omit" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (reply) {
        if (!reply) {
          return;
        }
        var notices = reply.notices && reply.notices.length ? showNotices(reply) : null;
        if (reply.survey && dismissed().indexOf(reply.survey.invitation_id) < 0) {
          showSurvey(reply, notices);
        }
      })
      .catch(function () { /* the page works on without the widget */ });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
