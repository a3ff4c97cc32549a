/* cxloop inbox composer: canned replies and @mentions without a page load. The composer works
   without this file (the "Insert" button renders a canned reply on the server and asks there for
   missing variables); here a chosen reply, or a /shortcut followed by Tab, is rendered in place,
   and a member picked from the mention list is typed into the text. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  function insertAt(textarea, text, start, end) {
    var before = textarea.value.slice(0, start);
    var after = textarea.value.slice(end);
    var glue = before && !/\s$/.test(before) ? "\n\n" : "";
    textarea.value = before + glue + text + after;
    var caret = (before + glue + text).length;
    textarea.setSelectionRange(caret, caret);
    textarea.focus();
  }

  ready(function () {
    var form = document.getElementById("composer");
    var textarea = document.getElementById("composer-text");
    var picker = document.getElementById("canned-pick");
    var insertButton = document.getElementById("insert-canned");
    if (!form || !textarea) return;

    // Render a canned reply for this conversation; with every variable known it goes in at
    // the caret (replacing [start, end)), otherwise the server's form asks for the rest.
    function useCanned(id, start, end) {
      fetch(picker.getAttribute("data-render") + id, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (rendered) {
          if (rendered.missing && rendered.missing.length) {
            picker.value = id;
            if (insertButton) insertButton.click();
            return;
          }
          insertAt(textarea, rendered.text, start, end);
          picker.value = "";
        })
        .catch(function () {
          picker.value = id;
          if (insertButton) insertButton.click();
        });
    }

    if (picker) {
      picker.addEventListener("change", function () {
        if (!picker.value) return;
        useCanned(picker.value, textarea.selectionStart, textarea.selectionEnd);
      });

      // "/배송" then Tab: the word before the caret names a shortcut.
      textarea.addEventListener("keydown", function (event) {
        if (event.key !== "Tab" || event.shiftKey) return;
        var caret = textarea.selectionStart;
        var word = /(^|\s)(\/\S+)$/.exec(textarea.value.slice(0, caret));
        if (!word) return;
        var language = picker.getAttribute("data-language");
        var options = Array.prototype.filter.call(picker.options, function (option) {
          return option.getAttribute("data-shortcut") === word[2];
        });
        if (!options.length) return;
        var chosen = options.filter(function (o) {
          return o.getAttribute("data-language") === language;
        })[0] || options[0];
        event.preventDefault();
        useCanned(chosen.value, caret - word[2].length, caret);
      });
    }

    var mention = document.getElementById("mention-pick");
    if (mention) {
      mention.addEventListener("change", function () {
        var value = mention.value.trim();
        if (!value) return;
        if (value.charAt(0) !== "@") value = "@" + value;
        var start = textarea.selectionStart;
        var before = textarea.value.slice(0, start);
        var text = (before && !/\s$/.test(before) ? " " : "") + value + " ";
        textarea.value = before + text + textarea.value.slice(textarea.selectionEnd);
        var caret = (before + text).length;
        textarea.setSelectionRange(caret, caret);
        textarea.focus();
        mention.value = "";
      });
    }
  });
})();
