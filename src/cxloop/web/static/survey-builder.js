/* The survey builder and distribution form, made nicer: each question shows only the fields
   its type uses, choice rows are added and removed in place, and picking a condition's
   question or a trigger's event redraws the form (as the "Choose"/"Load" buttons do without
   this file, which the pages work without). */
(function () {
  "use strict";

  function sync(card) {
    var select = card.querySelector("select[data-question-type]");
    if (!select) return;
    card.querySelectorAll("[data-for-types]").forEach(function (el) {
      var types = (el.getAttribute("data-for-types") || "").split(" ");
      el.hidden = types.indexOf(select.value) < 0;
    });
  }

  // The "separate values with commas" hint, only while "is one of" is chosen.
  function syncListHint(card) {
    var op = card.querySelector("select[data-condition-op]");
    var hint = card.querySelector("[data-for-op]");
    if (op && hint) hint.hidden = op.value !== hint.getAttribute("data-for-op");
  }

  function renumber(block) {
    var rows = block.querySelectorAll("[data-choice-row]");
    var count = block.querySelector("[data-choice-count]");
    rows.forEach(function (row, j) {
      row.querySelectorAll("input").forEach(function (input) {
        input.name = input.name.replace(/opt-\d+-(id|ko|en)$/, "opt-" + j + "-$1");
      });
      row.querySelectorAll("[data-label]").forEach(function (el) {
        el.setAttribute("aria-label", el.getAttribute("data-label").replace("{n}", j + 1));
      });
    });
    count.value = String(rows.length);
  }

  function addChoice(block) {
    var rows = block.querySelectorAll("[data-choice-row]");
    var last = rows[rows.length - 1];
    var fresh = last.cloneNode(true);
    fresh.querySelectorAll("input").forEach(function (input) {
      input.value = "";
    });
    last.parentNode.appendChild(fresh);
    renumber(block);
    fresh.querySelector("input").focus();
  }

  function removeChoice(block, row) {
    if (block.querySelectorAll("[data-choice-row]").length > 1) {
      row.parentNode.removeChild(row);
    } else {
      row.querySelectorAll("input").forEach(function (input) {
        input.value = "";
      });
    }
    renumber(block);
  }

  function redraw(button, anchor) {
    if (!button) return;
    var form = button.form;
    // form.action would be the form's buttons named "action"; the attribute is the URL.
    if (anchor) {
      form.setAttribute("action", form.getAttribute("action").split("#")[0] + "#" + anchor);
    }
    button.click();
  }

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  ready(function () {
    document.querySelectorAll("[data-question-card]").forEach(function (card) {
      sync(card);
      syncListHint(card);
      card.addEventListener("change", function (event) {
        var target = event.target;
        if (!target) return;
        if (target.matches("select[data-question-type]")) sync(card);
        if (target.matches("select[data-condition-op]")) syncListHint(card);
        if (target.matches("select[data-condition-question]")) {
          redraw(target.closest(".show-if").querySelector("[data-refresh-button]"), card.id);
        }
      });
    });
    document.querySelectorAll(".show-if [data-refresh-button]").forEach(function (button) {
      button.hidden = true;
    });
    document.querySelectorAll(".choices-block").forEach(function (block) {
      block.querySelectorAll("[data-add-choice], [data-remove-choice]").forEach(function (b) {
        b.hidden = false;
      });
      block.addEventListener("click", function (event) {
        var target = event.target;
        if (!target || !target.closest) return;
        if (target.closest("[data-add-choice]")) addChoice(block);
        var remove = target.closest("[data-remove-choice]");
        if (remove) removeChoice(block, remove.closest("[data-choice-row]"));
      });
    });
    document.querySelectorAll("[data-refresh-on-change]").forEach(function (input) {
      input.addEventListener("change", function () {
        redraw(input.form.querySelector("[data-refresh-button]"), "");
      });
    });
  });
})();
