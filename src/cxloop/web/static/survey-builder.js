/* The survey builder, made nicer: each question shows only the fields its type uses. Without
   this file every field is shown and the form works the same. */
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
      card.addEventListener("change", function (event) {
        if (event.target && event.target.matches("select[data-question-type]")) sync(card);
      });
    });
  });
})();
