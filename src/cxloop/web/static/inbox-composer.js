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

    // Where the agent last was in the text; a page the server just drew puts new text at the
    // end rather than before the draft.
    var caret = null;
    ["keyup", "click", "input", "select"].forEach(function (name) {
      textarea.addEventListener(name, function () {
        caret = [textarea.selectionStart, textarea.selectionEnd];
      });
    });
    function here() {
      return caret || [textarea.value.length, textarea.value.length];
    }

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
          caret = [textarea.selectionStart, textarea.selectionEnd];
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
        var at = here();
        useCanned(picker.value, at[0], at[1]);
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

    // The member list is only of use with this script: without it the field stays hidden.
    var mention = document.getElementById("mention-pick");
    if (mention) {
      if (mention.parentElement) mention.parentElement.hidden = false;
      var mentionPicked = function () {
        var value = mention.value.trim();
        mention.value = "";
        if (!value) return;
        if (value.charAt(0) !== "@") value = "@" + value;
        var at = here();
        var before = textarea.value.slice(0, at[0]);
        var text = (before && !/\s$/.test(before) ? " " : "") + value + " ";
        textarea.value = before + text + textarea.value.slice(at[1]);
        var end = (before + text).length;
        textarea.setSelectionRange(end, end);
        caret = [end, end];
        textarea.focus();
      };
      mention.addEventListener("change", mentionPicked);
      // Enter in this field picks the member; it never sends the reply.
      mention.addEventListener("keydown", function (event) {
        if (event.key !== "Enter") return;
        event.preventDefault();
        mentionPicked();
      });
    }
  });
})();
