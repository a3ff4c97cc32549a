/* cxloop: small progressive enhancements. Every page works without this file; the strict
   Content-Security-Policy forbids inline handlers, so behaviour is wired here by attribute. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  ready(function () {
    // Buttons only needed without JavaScript (e.g. "Switch" next to an auto-submitting select).
    document.querySelectorAll(".js-hide").forEach(function (el) {
      el.hidden = true;
    });

    // A select marked data-autosubmit submits its form as soon as the choice changes.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        var form = select.form;
        if (!form) return;
        if (typeof form.requestSubmit === "function") {
          form.requestSubmit();
        } else {
          form.submit();
        }
      });
    });

    // The top bar's menus (the main menu below 1200 px, the user's menu) are <details>, so
    // they open without this file. Here each also says whether it is open (aria-expanded) and
    // closes on Escape (focus back on its button) or on a click outside it. The main menu sits
    // in the bar from 1200 px; a browser whose CSS cannot show a closed <details>'s content
    // (no ::details-content) has it held open there instead.
    var wide = window.matchMedia("(min-width: 1200px)");
    document.querySelectorAll("details[data-navmenu], details[data-menu]").forEach(function (menu) {
      var button = menu.querySelector("summary");
      var main = menu.hasAttribute("data-navmenu");
      var nav = menu.querySelector("nav");
      // a click on the main menu's account items (phones) is not a click outside it
      var inside = main ? menu.closest("header") || menu : menu;
      var heldOpen = false;
      if (!button) return;
      function sync() {
        button.setAttribute("aria-expanded", menu.open ? "true" : "false");
      }
      function fit() {
        if (!main || !nav) return;
        if (wide.matches && !menu.open && nav.getClientRects().length === 0) {
          heldOpen = true;
          menu.open = true;
        } else if (!wide.matches && heldOpen) {
          heldOpen = false;
          menu.open = false;
        }
      }
      function folded() {
        return !(main && wide.matches) && button.getClientRects().length > 0;
      }
      menu.addEventListener("toggle", sync);
      if (wide.addEventListener) {
        wide.addEventListener("change", fit);
      } else if (wide.addListener) {
        wide.addListener(fit);
      }
      fit();
      sync();
      document.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && menu.open && folded()) {
          menu.open = false;
          button.focus();
        }
      });
      document.addEventListener("click", function (event) {
        if (menu.open && folded() && event.target instanceof Node
            && !inside.contains(event.target)) {
          menu.open = false;
        }
      });
    });

    // A button (or link) with data-confirm asks before it acts.
    document.addEventListener("click", function (event) {
      var target = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
      if (target && !window.confirm(target.getAttribute("data-confirm") || "")) {
        event.preventDefault();
        event.stopPropagation();
      }
    }, true);

    // "Copy" buttons (data-copy = the id of the element holding the text) appear only where
    // the clipboard can be written; without them the text is still there to select.
    if (navigator.clipboard) {
      document.querySelectorAll("button[data-copy]").forEach(function (button) {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source) return;
        var label = button.textContent;
        button.hidden = false;
        button.addEventListener("click", function () {
          var text = source.tagName === "INPUT" || source.tagName === "TEXTAREA"
            ? source.value : source.textContent;
          navigator.clipboard.writeText(text).then(function () {
            button.textContent = button.getAttribute("data-copied") || label;
            window.setTimeout(function () { button.textContent = label; }, 2000);
          });
        });
      });
    }
  });
})();
