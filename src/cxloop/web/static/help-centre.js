/* The help centre's search box: suggestions as the reader types, from the same ranking as the
   search page (GET data-suggest?q=). Arrow keys move through them, Enter opens one, Escape
   closes them. Without this file the form still searches. */
(function () {
  "use strict";

  var WAIT_MS = 150;
  var MIN_CHARS = 2;

  function attach(form) {
    var input = form.querySelector('input[name="q"]');
    var list = form.querySelector(".hc-suggestions");
    var url = form.getAttribute("data-suggest");
    var lang = form.querySelector('input[name="lang"]');
    if (!input || !list || !url || !window.fetch) return;
    var timer = null;
    var pending = null;
    var active = -1;

    function links() {
      return list.querySelectorAll("a");
    }

    function close() {
      list.hidden = true;
      list.textContent = "";
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function mark(index) {
      var all = links();
      active = index;
      all.forEach(function (a, i) {
        a.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0 && all[index]) {
        input.setAttribute("aria-activedescendant", all[index].id);
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function show(items) {
      list.textContent = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "presentation");
        var a = document.createElement("a");
        a.id = "hc-suggestion-" + i;
        a.setAttribute("role", "option");
        a.href = item.url;
        a.textContent = item.title; // text, never markup
        li.appendChild(a);
        list.appendChild(li);
      });
      active = -1;
      list.hidden = items.length === 0;
      input.setAttribute("aria-expanded", items.length ? "true" : "false");
    }

    function ask() {
      var query = input.value.trim();
      if (query.length < MIN_CHARS) {
        close();
        return;
      }
      if (pending) pending.abort();
      pending = window.AbortController ? new AbortController() : null;
      var params = new URLSearchParams({ q: query });
      if (lang) params.set("lang", lang.value);
      fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + params.toString(), {
        headers: { Accept: "application/json" },
        signal: pending ? pending.signal : undefined,
      })
        .then(function (response) {
          return response.ok ? response.json() : { items: [] };
        })
        .then(function (body) {
          if (input.value.trim() === query) show(body.items || []);
        })
        .catch(function () {
          /* aborted by a newer query, or offline: the form still searches */
        });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, WAIT_MS);
    });

    input.addEventListener("keydown", function (event) {
      var all = links();
      if (list.hidden || !all.length) return;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        mark((active + 1) % all.length);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        mark(active <= 0 ? all.length - 1 : active - 1);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        window.location.href = all[active].href;
      } else if (event.key === "Escape") {
        close();
      }
    });

    document.addEventListener("click", function (event) {
      if (!form.contains(event.target)) close();
    });
  }

  // Loaded with defer: the page is parsed by now.
  document.querySelectorAll("form[data-suggest]").forEach(attach);
})();
