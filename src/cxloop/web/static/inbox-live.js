/* The live inbox: listens to /inbox/live (server-sent events) and, when a conversation changes,
   reloads this page in the background and swaps in the panes it shows (the list, the view
   counts, the open conversation's messages) — never the composer, so a reply being written is
   kept. Shows who else is writing in the open conversation, and tells the others when this
   agent is. */
(function () {
  "use strict";

  var root = document.querySelector(".inbox[data-live]");
  if (!root || !window.EventSource || !window.fetch) {
    return;
  }
  var current = root.getAttribute("data-conversation") || "";
  var me = root.getAttribute("data-me") || "";
  var hint = document.getElementById("typing-hint");
  var pending = null;
  var hintTimer = null;
  var PANES = [".conversation-list", ".inbox-views", ".messages", ".thread-meta"];

  function swap() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var thread = document.querySelector(".messages");
        var atBottom = thread && thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
        PANES.forEach(function (selector) {
          var old = document.querySelector(selector);
          var next = fresh.querySelector(selector);
          if (old && next) {
            old.replaceWith(document.importNode(next, true));
          }
        });
        thread = document.querySelector(".messages");
        if (thread && atBottom) {
          thread.scrollTop = thread.scrollHeight;
        }
        document.dispatchEvent(new CustomEvent("cxloop:inbox-refreshed"));
      })
      .catch(function () {
        /* the next event or a reload shows it */
      });
  }

  function later() {
    if (pending === null) {
      pending = window.setTimeout(swap, 250);
    }
  }

  function showHint(text) {
    if (!hint) {
      return;
    }
    hint.textContent = text;
    hint.hidden = false;
    window.clearTimeout(hintTimer);
    hintTimer = window.setTimeout(function () {
      hint.hidden = true;
      hint.textContent = "";
    }, 6000);
  }

  var stream = new EventSource("/inbox/live");
  stream.addEventListener("conversation", function (event) {
    var data = JSON.parse(event.data);
    if (data.id && hint && String(data.id) === current && data.what === "message") {
      hint.hidden = true;
    }
    later();
  });
  stream.addEventListener("resync", later);
  stream.addEventListener("typing", function (event) {
    var data = JSON.parse(event.data);
    if (String(data.id) !== current || (data.user && String(data.user) === me)) {
      return;
    }
    var template = root.getAttribute(data.who === "agent" ? "data-agent-typing" : "data-visitor-typing") || "";
    showHint(template.replace("{name}", data.name || ""));
  });

  var composer = document.getElementById("composer");
  var text = document.getElementById("composer-text");
  var last = 0;
  if (composer && text && current) {
    text.addEventListener("input", function () {
      var now = Date.now();
      if (now - last < 4000) {
        return;
      }
      last = now;
      var form = new FormData();
      var csrf = composer.querySelector("input[name=csrf_token]");
      if (csrf) {
        form.append(csrf.name, csrf.value);
      }
      fetch("/inbox/" + current + "/typing", { method: "POST", body: form, credentials: "same-origin" })
        .catch(function () { /* a hint only */ });
    });
  }
})();
