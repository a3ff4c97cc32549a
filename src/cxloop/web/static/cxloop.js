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
