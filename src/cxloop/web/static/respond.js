/* The respondent pages (and the builder's preview): show a branch question only while its
   condition holds, keep a picked score at once (partial answer), count characters, and send
   a form only once. The server checks everything again; without this file every question is
   shown and the form still works. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  var SCORED = { nps: 1, csat: 1, ces: 1, rating: 1 };

  // The cleaned answer of one question block, as the server would store it (or null).
  function answerOf(block) {
    var type = block.getAttribute("data-type");
    var inputs = block.querySelectorAll("input, select, textarea");
    if (type === "multiple") {
      var picked = [];
      inputs.forEach(function (input) {
        if (input.checked) picked.push(input.value);
      });
      return picked.length ? picked : null;
    }
    var value = null;
    inputs.forEach(function (input) {
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) value = input.value;
      } else if (input.value.trim() !== "") {
        value = type === "text" ? input.value.trim() : input.value;
      }
    });
    if (value !== null && SCORED[type]) {
      var number = Number(value);
      return Number.isInteger(number) ? number : null;
    }
    return value;
  }

  // definition.py's _condition_holds, on the answer of an earlier visible question.
  function holds(condition, answer) {
    if (answer === null || answer === undefined) return false;
    var op = condition.op;
    var value = condition.value;
    if (Array.isArray(answer)) {
      if (op === "==") return answer.indexOf(value) >= 0;
      if (op === "!=") return answer.indexOf(value) < 0;
      if (op === "in" && Array.isArray(value)) {
        return answer.some(function (a) { return value.indexOf(a) >= 0; });
      }
      return false;
    }
    if (op === "in") return Array.isArray(value) && value.indexOf(answer) >= 0;
    if (op === "==") return answer === value;
    if (op === "!=") return answer !== value;
    if (typeof answer === "string" || typeof value !== "number") return false;
    if (op === "<") return answer < value;
    if (op === "<=") return answer <= value;
    if (op === ">") return answer > value;
    return answer >= value;
  }

  function applyBranching(form) {
    var answered = {};
    form.querySelectorAll("fieldset[data-question]").forEach(function (block) {
      var raw = block.getAttribute("data-show-if");
      var visible = true;
      if (raw) {
        try {
          var condition = JSON.parse(raw);
          visible = holds(condition, answered[condition.question]);
        } catch (e) {
          visible = true;
        }
      }
      block.hidden = !visible;
      if (!form.hasAttribute("data-preview")) {
        block.querySelectorAll("input, select, textarea").forEach(function (input) {
          input.disabled = !visible;
        });
      }
      if (visible) answered[block.getAttribute("data-question")] = answerOf(block);
    });
  }

  function updateCounter(textarea) {
    var counter = document.getElementById(textarea.getAttribute("data-counter") || "");
    if (!counter) return;
    var limit = counter.getAttribute("data-limit");
    counter.textContent = textarea.value.length + " / " + limit;
  }

  function saveScore(form) {
    var body = new URLSearchParams(new FormData(form));
    body.set("partial", "1");
    var note = form.querySelector(".r-saved");
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "omit",
      headers: { Accept: "application/json" }
    }).then(function (reply) {
      if (reply.ok && note) note.textContent = note.getAttribute("data-saved-text") || "";
    }).catch(function () { /* the full submit will carry the answer anyway */ });
  }

  ready(function () {
    document.querySelectorAll("form[data-survey]").forEach(function (form) {
      applyBranching(form);
      form.addEventListener("change", function (event) {
        applyBranching(form);
        var target = event.target;
        var block = target && target.closest ? target.closest("fieldset[data-question]") : null;
        if (form.hasAttribute("data-autosave") && block &&
            SCORED[block.getAttribute("data-type")]) {
          saveScore(form);
        }
      });
      form.addEventListener("input", function (event) {
        if (event.target && event.target.tagName === "TEXTAREA") {
          updateCounter(event.target);
          applyBranching(form);
        }
      });
      form.querySelectorAll("textarea[data-counter]").forEach(updateCounter);
      form.addEventListener("submit", function (event) {
        if (form.hasAttribute("data-preview")) {
          event.preventDefault();
          return;
        }
        if (form.getAttribute("data-sent") === "1") {
          event.preventDefault();
          return;
        }
        form.setAttribute("data-sent", "1");
        var button = form.querySelector("button[type=submit]");
        if (button) {
          window.setTimeout(function () {
            button.disabled = true;
            button.textContent = button.getAttribute("data-sending") || button.textContent;
          }, 0);
        }
      });
    });
  });
})();
