/* cxloop settings: "Copy" buttons next to a new key's secret and its snippets. The buttons
   stay hidden without JavaScript (the text can still be selected and copied by hand). */
(function () {
  "use strict";

  function textOf(el) {
    return el.tagName === "INPUT" || el.tagName === "TEXTAREA" ? el.value : el.textContent;
  }

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  ready(function () {
    if (!navigator.clipboard) return;
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(textOf(source)).then(function () {
          button.textContent = button.getAttribute("data-copied") || label;
          window.setTimeout(function () { button.textContent = label; }, 2000);
        });
      });
    });
  });
})();
