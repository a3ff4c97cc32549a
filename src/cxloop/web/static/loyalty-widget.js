/* cxloop member widget: the signed-in shopper's points, tier and latest entries. Embed with
     <div id="cxloop-loyalty"></div>
     <script src="https://YOUR-CXLOOP/widget/loyalty.js" data-write-key="WRITE_KEY"
             data-user-id="…" data-user-hash="…" async></script>
   data-user-hash is the HMAC-SHA256 of the user id under the workspace's identity secret,
   computed by your server; without it the widget asks the shopper to sign in.
   Optional: data-locale="ko|en", data-target="CSS selector" (default #cxloop-loyalty, added
   at the end of the page when there is none).
   No dependencies, no inline styles or eval (CSP-friendly: styles are set through the CSSOM);
   every text is set with textContent, never parsed as HTML. */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) {
    var found = document.querySelectorAll("script[data-write-key][src*='/widget/loyalty.js']");
    script = found[found.length - 1];
  }
  if (!script || window.__cxloopLoyaltyWidget) {
    return;
  }
  window.__cxloopLoyaltyWidget = true;

  var writeKey = script.getAttribute("data-write-key") || "";
  var userId = script.getAttribute("data-user-id") || "";
  var userHash = script.getAttribute("data-user-hash") || "";
  var locale = script.getAttribute("data-locale") || navigator.language || "";
  var target = script.getAttribute("data-target") || "#cxloop-loyalty";
  var base = new URL(script.src, window.location.href).origin;

  function el(tag, text, style) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (style) {
      for (var name in style) {
        if (Object.prototype.hasOwnProperty.call(style, name)) {
          node.style[name] = style[name];
        }
      }
    }
    return node;
  }

  function row(label, value) {
    var line = el("div", null, { display: "flex", justifyContent: "space-between", gap: "12px" });
    line.appendChild(el("span", label, { color: "#555" }));
    line.appendChild(el("strong", value));
    return line;
  }

  function render(box, body) {
    var labels = body.labels || {};
    box.textContent = "";
    box.setAttribute("lang", body.lang || "ko");
    box.dataset.program = body.program || "";
    box.appendChild(el("h3", body.program || labels.title, { margin: "0 0 8px", fontSize: "16px" }));
    if (!body.verified) {
      box.appendChild(el("p", labels.sign_in, { margin: "0" }));
      return;
    }
    var member = body.member;
    if (!member) {
      box.appendChild(el("p", labels.not_member, { margin: "0" }));
      return;
    }
    if (member.tier) {
      box.appendChild(el("div", member.tier, { fontWeight: "700", fontSize: "18px" }));
    }
    if (member.progress) {
      box.appendChild(el("div", member.progress, { color: "#555", margin: "2px 0 8px" }));
    }
    for (var i = 0; i < member.balances.length; i += 1) {
      var balance = member.balances[i];
      box.appendChild(row(labels.available, balance.available));
      if (balance.pending !== "0") {
        box.appendChild(row(labels.pending, balance.pending));
      }
      if (balance.expiring !== "0") {
        box.appendChild(row(labels.expiring, balance.expiring));
      }
    }
    if (member.badges.length) {
      box.appendChild(el("div", labels.badges, { margin: "10px 0 4px", fontWeight: "600" }));
      var shelf = el("div", null, { display: "flex", flexWrap: "wrap", gap: "6px" });
      for (var b = 0; b < member.badges.length; b += 1) {
        shelf.appendChild(el("span", member.badges[b], {
          border: "1px solid #c9a227", borderRadius: "999px", padding: "1px 8px", fontSize: "13px"
        }));
      }
      box.appendChild(shelf);
    }
    if (member.challenges.length) {
      box.appendChild(el("div", labels.challenges, { margin: "10px 0 4px", fontWeight: "600" }));
      for (var c = 0; c < member.challenges.length; c += 1) {
        var challenge = member.challenges[c];
        box.appendChild(row(challenge.name, challenge.done + " / " + challenge.needed));
        var bar = el("progress", null, { width: "100%" });
        bar.max = challenge.needed;
        bar.value = challenge.done;
        box.appendChild(bar);
      }
    }
    if (member.leaderboard && member.leaderboard.leaders.length) {
      box.appendChild(el("div", labels.leaderboard, { margin: "10px 0 4px", fontWeight: "600" }));
      var board = el("ol", null, { listStyle: "none", margin: "0", padding: "0" });
      board.className = "cxloop-leaderboard";
      for (var k = 0; k < member.leaderboard.leaders.length; k += 1) {
        var leader = member.leaderboard.leaders[k];
        var place = el("li", null, {
          display: "flex", justifyContent: "space-between", gap: "8px",
          fontWeight: leader.you ? "700" : "400"
        });
        place.appendChild(el("span", leader.rank + ". " + leader.name));
        place.appendChild(el("span", leader.points));
        board.appendChild(place);
      }
      box.appendChild(board);
      if (member.leaderboard.you) {
        box.appendChild(el("div", member.leaderboard.you, { color: "#555", marginTop: "4px" }));
      }
    }
    if (member.rewards.length) {
      box.appendChild(el("div", labels.rewards, { margin: "10px 0 4px", fontWeight: "600" }));
      for (var r = 0; r < member.rewards.length; r += 1) {
        box.appendChild(rewardRow(box, member.rewards[r], labels));
      }
    }
    if (body.code) {
      var issued = el("div", null, {
        margin: "10px 0", padding: "8px", background: "#f4f8ff", borderRadius: "6px"
      });
      issued.appendChild(el("div", body.message));
      issued.appendChild(el("div", body.reward + " · " + labels.code));
      issued.appendChild(el("strong", body.code, { fontSize: "18px", letterSpacing: "1px" }));
      box.appendChild(issued);
    }
    if (member.latest.length) {
      box.appendChild(el("div", labels.latest, { margin: "10px 0 4px", fontWeight: "600" }));
      var list = el("ul", null, { listStyle: "none", margin: "0", padding: "0" });
      for (var j = 0; j < member.latest.length; j += 1) {
        var entry = member.latest[j];
        var item = el("li", null, { display: "flex", justifyContent: "space-between", gap: "8px" });
        item.appendChild(el("span", entry.date + " · " + entry.what, { color: "#555" }));
        item.appendChild(el("span", entry.points));
        list.appendChild(item);
      }
      box.appendChild(list);
    }
  }

  function rewardRow(box, reward, labels) {
    var line = el("div", null, {
      display: "flex", justifyContent: "space-between", alignItems: "center", gap: "8px",
      margin: "2px 0"
    });
    line.appendChild(el("span", reward.name + " · " + reward.cost + "P"));
    var button = el("button", labels.redeem, { padding: "2px 10px" });
    button.type = "button";
    button.disabled = !reward.affordable;
    button.addEventListener("click", function () {
      button.disabled = true;
      redeem(box, reward.key, labels);
    });
    line.appendChild(button);
    return line;
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function redeem(box, rewardKey, labels) {
    // One key per click: a retried request spends once.
    var body = {
      writeKey: writeKey, userId: userId, userHash: userHash, reward: rewardKey,
      idempotencyKey: newKey(), locale: locale
    };
    fetch(base + "/widget/v1/loyalty/redemptions", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    })
      .then(function (answer) {
        return answer.json().then(function (data) {
          return { ok: answer.ok, data: data };
        });
      })
      .then(function (result) {
        if (result.ok) {
          render(box, {
            lang: box.getAttribute("lang"), verified: true, program: box.dataset.program,
            labels: labels, member: result.data.member, code: result.data.code,
            reward: result.data.reward, message: result.data.message
          });
        } else {
          box.appendChild(el("p", result.data.detail || labels.failed, { color: "#b00020" }));
        }
      })
      .catch(function () {
        box.appendChild(el("p", labels.failed, { color: "#b00020" }));
      });
  }

  function start() {
    var box = document.querySelector(target);
    if (!box) {
      box = el("div");
      box.id = "cxloop-loyalty";
      document.body.appendChild(box);
    }
    box.style.fontFamily = "system-ui, 'Apple SD Gothic Neo', 'Noto Sans KR', sans-serif";
    box.style.border = "1px solid #ddd";
    box.style.borderRadius = "8px";
    box.style.padding = "12px 14px";
    box.style.maxWidth = "360px";
    var query = new URLSearchParams({ writeKey: writeKey, locale: locale });
    if (userId) {
      query.set("userId", userId);
      query.set("userHash", userHash);
    }
    fetch(base + "/widget/v1/loyalty/member?" + query.toString(), { credentials: "omit" })
      .then(function (answer) {
        return answer.ok ? answer.json() : null;
      })
      .then(function (body) {
        if (body) {
          render(box, body);
        }
      })
      .catch(function () {
        /* the shop's page goes on without the panel */
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
