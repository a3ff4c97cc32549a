/* The segment builder: rows of conditions (a type, then that type's fields) in an all/any group
   with one level of nested groups and a "not" toggle on every group and condition, written into
   the rule's JSON textarea as they change; the count of matching customers, some of them and
   the rule in words come from the preview route while typing. Without this file the JSON
   textarea is the builder and the "Count customers" button previews. */
(function () {
  "use strict";

  var MAX_CONDITIONS = 50;

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") {
        node.textContent = attrs[key];
      } else if (key === "className") {
        node.className = attrs[key];
      } else {
        node.setAttribute(key, attrs[key]);
      }
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function clone(value) {
    return JSON.parse(JSON.stringify(value));
  }

  ready(function () {
    var form = document.getElementById("segment-form");
    var specNode = document.getElementById("segment-builder-spec");
    var textarea = document.getElementById("rule-json");
    var root = document.getElementById("rule-builder");
    if (!form || !specNode || !textarea || !root) return;
    var spec = JSON.parse(specNode.textContent || "{}");
    var words = spec.words || {};
    var types = {};
    var typeOrder = [];
    (spec.types || []).forEach(function (entry) {
      types[entry[0]] = { label: entry[1], fields: entry[2] };
      typeOrder.push(entry[0]);
    });
    var note = document.getElementById("builder-note");
    var details = document.getElementById("rule-json-box");
    var countNode = document.getElementById("preview-count");
    var errorNode = document.getElementById("preview-error");
    var wordsNode = document.getElementById("preview-words");
    var sampleNode = document.getElementById("preview-sample");
    var csrf = form.querySelector("input[name=csrf_token]");
    var state = null;
    var uid = 0;

    // --- the rule as rows, and back -----------------------------------------------------------

    function fieldNames(type) {
      return (types[type] ? types[type].fields : []).map(function (f) { return f.name; });
    }

    function condition(rule, negated) {
      var data = { type: rule.type };
      var extra = {};
      var known = fieldNames(rule.type);
      Object.keys(rule).forEach(function (key) {
        if (key === "type") return;
        if (known.indexOf(key) >= 0) data[key] = rule[key];
        else extra[key] = rule[key];
      });
      return { kind: "condition", negated: negated, data: data, extra: extra };
    }

    function isCondition(rule) {
      return rule && typeof rule === "object" && Object.prototype.hasOwnProperty.call(types, rule.type);
    }

    function unwrap(rule) {
      var negated = false;
      while (rule && typeof rule === "object" && rule.type === "not") {
        negated = !negated;
        rule = rule.rule;
      }
      return { rule: rule, negated: negated };
    }

    function isGroup(rule) {
      return rule && typeof rule === "object" && (rule.type === "all" || rule.type === "any") &&
        Array.isArray(rule.rules);
    }

    // The rows a rule shows as, or null when it nests deeper than the builder draws.
    function fromRule(rule) {
      var top = unwrap(rule);
      if (isCondition(top.rule)) {
        return { mode: "all", negated: top.negated, items: [condition(top.rule, false)] };
      }
      if (!isGroup(top.rule)) return null;
      var items = [];
      for (var i = 0; i < top.rule.rules.length; i++) {
        var child = unwrap(top.rule.rules[i]);
        if (isCondition(child.rule)) {
          items.push(condition(child.rule, child.negated));
        } else if (isGroup(child.rule)) {
          var inner = [];
          for (var j = 0; j < child.rule.rules.length; j++) {
            var leaf = unwrap(child.rule.rules[j]);
            if (!isCondition(leaf.rule)) return null;
            inner.push(condition(leaf.rule, leaf.negated));
          }
          items.push({ kind: "group", mode: child.rule.type, negated: child.negated, items: inner });
        } else {
          return null;
        }
      }
      return { mode: top.rule.type, negated: top.negated, items: items };
    }

    function wrap(rule, negated) {
      return negated ? { type: "not", rule: rule } : rule;
    }

    function conditionRule(item) {
      var rule = Object.assign({}, item.extra, item.data);
      return wrap(rule, item.negated);
    }

    function toRule(s) {
      var rules = s.items.map(function (item) {
        if (item.kind === "condition") return conditionRule(item);
        return wrap({ type: item.mode, rules: item.items.map(conditionRule) }, item.negated);
      });
      return wrap({ type: s.mode, rules: rules }, s.negated);
    }

    function fresh(type) {
      var data = { type: type };
      types[type].fields.forEach(function (f) {
        if (f.default === undefined || f.default === null) return;
        if (f.kind === "bool") data[f.name] = f.default === "true";
        else data[f.name] = f.default;
      });
      return { kind: "condition", negated: false, data: data, extra: {} };
    }

    function conditionCount() {
      var n = 0;
      state.items.forEach(function (item) {
        n += item.kind === "group" ? item.items.length : 1;
      });
      return n;
    }

    // --- values typed into text fields --------------------------------------------------------

    // "VIP" stays text, 10 becomes a number, true/false booleans; "10" in quotes stays text.
    function scalar(text) {
      var value = text.trim();
      if (/^".*"$/.test(value)) {
        try { return JSON.parse(value); } catch (e) { return value.slice(1, -1); }
      }
      if (value === "true") return true;
      if (value === "false") return false;
      if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
      return value;
    }

    function shown(value) {
      if (Array.isArray(value)) return value.map(shown).join(", ");
      if (typeof value === "string" && (/^-?\d+(\.\d+)?$/.test(value) || value === "true" || value === "false")) {
        return JSON.stringify(value);
      }
      return value === undefined || value === null ? "" : String(value);
    }

    // --- drawing ------------------------------------------------------------------------------

    function label(text, control, className) {
      var id = "sb-" + (++uid);
      control.id = id;
      return el("label", { "for": id, className: className || "sb-field" }, [
        el("span", { text: text }), control
      ]);
    }

    function select(options, value) {
      var node = el("select");
      options.forEach(function (option) {
        var o = el("option", { value: option[0], text: option[1] });
        if (String(value) === option[0]) o.selected = true;
        node.appendChild(o);
      });
      return node;
    }

    function notToggle(checked) {
      var box = el("input", { type: "checkbox", "data-role": "not" });
      box.checked = !!checked;
      return label(words.not, box, "sb-not");
    }

    function fieldControl(f, data) {
      var value = data[f.name];
      var control;
      if (f.kind === "select" || f.kind === "bool") {
        var current = value === undefined ? f.default : value;
        control = select(f.options, current === undefined ? "" : String(current));
      } else if (f.kind === "segment") {
        control = select([["", "—"]].concat(f.options), value === undefined ? "" : String(value));
      } else if (f.kind === "multi") {
        var chosen = Array.isArray(value) ? value.map(String) : [];
        var set = el("fieldset", { className: "sb-multi" }, [el("legend", { text: f.label })]);
        f.options.forEach(function (option) {
          var box = el("input", { type: "checkbox", value: option[0], "data-field": f.name });
          box.checked = chosen.indexOf(option[0]) >= 0;
          set.appendChild(el("label", {}, [box, document.createTextNode(" " + option[1])]));
        });
        return set;
      } else {
        control = el("input", {
          type: f.kind === "number" || f.kind === "integer" ? "number" : "text",
          placeholder: f.placeholder === undefined ? "" : String(f.placeholder)
        });
        if (f.kind === "number") control.setAttribute("step", "any");
        if (f.min !== undefined) control.setAttribute("min", String(f.min));
        control.value = f.kind === "value" ? shown(value) : (value === undefined ? "" : String(value));
      }
      control.setAttribute("data-field", f.name);
      var wrapper = label(f.label, control);
      wrapper.setAttribute("data-field-box", f.name);
      if (f.hint) wrapper.setAttribute("title", f.hint);
      return wrapper;
    }

    function readRow(row, item) {
      var type = item.data.type;
      var data = { type: type };
      var op = row.querySelector("[data-field=op]");
      types[type].fields.forEach(function (f) {
        if (f.kind === "multi") {
          data[f.name] = Array.prototype.filter.call(
            row.querySelectorAll("input[data-field='" + f.name + "']"),
            function (box) { return box.checked; }
          ).map(function (box) { return box.value; });
          return;
        }
        var control = row.querySelector("[data-field='" + f.name + "']");
        if (!control) return;
        var text = control.value;
        if (f.kind === "select") {
          data[f.name] = text;
        } else if (f.kind === "bool") {
          data[f.name] = text === "true";
        } else if (f.kind === "segment") {
          if (text) data[f.name] = Number(text);
        } else if (f.kind === "number" || f.kind === "integer") {
          if (text.trim() !== "") data[f.name] = Number(text);
        } else if (f.kind === "value") {
          var opValue = op ? op.value : "eq";
          if (opValue === "exists") return;
          if (opValue === "in") {
            data[f.name] = text.split(",").map(function (part) { return part.trim(); })
              .filter(function (part) { return part !== ""; }).map(scalar);
          } else if (text.trim() !== "") {
            data[f.name] = scalar(text);
          }
        } else {
          var trimmed = text.trim();
          if (trimmed !== "" || !f.optional) data[f.name] = trimmed;
        }
      });
      item.data = data;
      var valueBox = row.querySelector("[data-field-box=value]");
      if (valueBox && op) valueBox.hidden = op.value === "exists";
    }

    function conditionRow(item, list, index, path) {
      var typeSelect = select(typeOrder.map(function (t) { return [t, types[t].label]; }), item.data.type);
      typeSelect.setAttribute("data-role", "type");
      var fields = el("div", { className: "sb-fields" });
      types[item.data.type].fields.forEach(function (f) {
        fields.appendChild(fieldControl(f, item.data));
      });
      var remove = el("button", { type: "button", className: "btn subtle small sb-remove", text: words.remove });
      var row = el("div", { className: "sb-condition", "data-path": path }, [
        el("div", { className: "sb-row-head" }, [label(words.type, typeSelect, "sb-type"), notToggle(item.negated), remove]),
        fields,
        el("p", { className: "sb-error", role: "alert", hidden: "hidden" })
      ]);
      var op = row.querySelector("[data-field=op]");
      var valueBox = row.querySelector("[data-field-box=value]");
      if (valueBox && op) valueBox.hidden = op.value === "exists";
      row.addEventListener("change", function (event) {
        var role = event.target.getAttribute("data-role");
        if (role === "type") {
          list[index] = fresh(event.target.value);
          list[index].negated = item.negated;
          changed(true);
        } else if (role === "not") {
          item.negated = event.target.checked;
          changed(true);
        } else {
          readRow(row, item);
          changed(false);
        }
      });
      row.addEventListener("input", function (event) {
        if (event.target.getAttribute("data-role")) return;
        readRow(row, item);
        changed(false);
      });
      remove.addEventListener("click", function () {
        list.splice(index, 1);
        changed(true);
      });
      return row;
    }

    function groupBox(group, path, nested, parentList, index) {
      var mode = select([["all", words.all], ["any", words.any]], group.mode);
      mode.setAttribute("data-role", "mode");
      var head = el("div", { className: "sb-group-head" }, [
        label(nested ? words.group : words.join, mode, "sb-mode"), notToggle(group.negated)
      ]);
      var box = el("div", { className: nested ? "sb-group sb-nested" : "sb-group sb-root", "data-path": path });
      var inner = (group.negated ? path + (path ? "." : "") + "rule" : path);
      var prefix = inner ? inner + "." : "";
      var items = el("div", { className: "sb-items" });
      group.items.forEach(function (item, i) {
        var itemPath = prefix + "rules." + i + (item.negated ? ".rule" : "");
        if (item.kind === "group") {
          items.appendChild(groupBox(item, prefix + "rules." + i, true, group.items, i));
        } else {
          items.appendChild(conditionRow(item, group.items, i, itemPath));
        }
      });
      if (!group.items.length) items.appendChild(el("p", { className: "muted small", text: words.empty_group }));
      var addCondition = el("button", { type: "button", className: "btn small", "data-role": "add-condition", text: words.add_condition });
      var actions = el("div", { className: "sb-actions" }, [addCondition]);
      addCondition.addEventListener("click", function () {
        if (conditionCount() >= MAX_CONDITIONS) return;
        group.items.push(fresh(typeOrder[0]));
        changed(true);
      });
      if (!nested) {
        var addGroup = el("button", { type: "button", className: "btn small", "data-role": "add-group", text: words.add_group });
        addGroup.addEventListener("click", function () {
          if (conditionCount() >= MAX_CONDITIONS) return;
          group.items.push({ kind: "group", mode: "any", negated: false, items: [fresh(typeOrder[0])] });
          changed(true);
        });
        actions.appendChild(addGroup);
      } else {
        var remove = el("button", { type: "button", className: "btn subtle small sb-remove", text: words.remove });
        remove.addEventListener("click", function () {
          parentList.splice(index, 1);
          changed(true);
        });
        head.appendChild(remove);
      }
      head.addEventListener("change", function (event) {
        var role = event.target.getAttribute("data-role");
        if (role === "mode") group.mode = event.target.value;
        else if (role === "not") group.negated = event.target.checked;
        else return;
        event.stopPropagation();
        changed(true);
      });
      box.appendChild(head);
      box.appendChild(items);
      box.appendChild(actions);
      return box;
    }

    function draw() {
      root.textContent = "";
      root.appendChild(groupBox(state, "", false, null, 0));
    }

    // --- keeping the JSON and the count current ----------------------------------------------

    function changed(structural) {
      textarea.value = JSON.stringify(toRule(state), null, 2);
      if (structural) {
        var focused = document.activeElement;
        var focusPath = focused && focused.closest ? focused.closest("[data-path]") : null;
        draw();
        if (focusPath) {
          var again = root.querySelector("[data-path='" + focusPath.getAttribute("data-path") + "'] select");
          if (again) again.focus();
        }
      }
      schedule();
    }

    var timer = null;
    var sequence = 0;

    function schedule() {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(preview, 350);
    }

    function clearErrors() {
      root.querySelectorAll(".sb-error").forEach(function (node) {
        node.hidden = true;
        node.textContent = "";
      });
      root.querySelectorAll(".sb-invalid").forEach(function (node) {
        node.classList.remove("sb-invalid");
      });
      errorNode.hidden = true;
      errorNode.textContent = "";
    }

    // The row a problem at ``field`` (e.g. rules.1.rules.0.value) belongs to: the longest path.
    function rowFor(field) {
      var best = null;
      var bestLength = -1;
      root.querySelectorAll(".sb-condition[data-path]").forEach(function (row) {
        var path = row.getAttribute("data-path");
        if ((field === path || field.indexOf(path + ".") === 0) && path.length > bestLength) {
          best = row;
          bestLength = path.length;
        }
      });
      return best;
    }

    function showProblems(body) {
      errorNode.textContent = body.error || words.failed;
      errorNode.hidden = false;
      countNode.textContent = "";
      (body.errors || []).forEach(function (problem) {
        var row = rowFor(String(problem.field || ""));
        if (!row) return;
        row.classList.add("sb-invalid");
        var message = row.querySelector(".sb-error");
        message.textContent = (message.textContent ? message.textContent + " " : "") + problem.message;
        message.hidden = false;
      });
    }

    function showCount(body) {
      countNode.textContent = body.count_text;
      countNode.setAttribute("data-count", String(body.count));
      wordsNode.textContent = body.description || "";
      sampleNode.textContent = "";
      (body.sample || []).forEach(function (customer) {
        sampleNode.appendChild(el("li", {}, [el("a", { href: customer.url, text: customer.name })]));
      });
    }

    function preview() {
      var mine = ++sequence;
      var data = new FormData();
      data.append("csrf_token", csrf ? csrf.value : "");
      data.append("rule", textarea.value);
      data.append("segment_id", form.getAttribute("data-segment-id") || "");
      countNode.setAttribute("aria-busy", "true");
      countNode.classList.add("counting");
      fetch(form.getAttribute("data-preview-url"), {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      })
        .then(function (response) {
          return response.json().then(function (body) {
            return { ok: response.ok, body: body };
          });
        })
        .then(function (answer) {
          if (mine !== sequence) return; // a later preview is on its way
          clearErrors();
          if (answer.ok) showCount(answer.body);
          else showProblems(answer.body);
        })
        .catch(function () {
          if (mine !== sequence) return;
          clearErrors();
          errorNode.textContent = words.failed;
          errorNode.hidden = false;
        })
        .then(function () {
          if (mine !== sequence) return;
          countNode.removeAttribute("aria-busy");
          countNode.classList.remove("counting");
        });
    }

    function fromText(initial) {
      var parsed;
      try {
        parsed = JSON.parse(textarea.value || '{"type": "all", "rules": []}');
      } catch (e) {
        parsed = undefined;
      }
      var rows = parsed === undefined ? null : fromRule(parsed);
      if (rows) {
        state = rows;
        draw();
        root.hidden = false;
        note.hidden = true;
      } else if (parsed !== undefined || initial) {
        // A rule deeper than the builder draws (or not JSON yet): edited as JSON only.
        root.hidden = true;
        note.textContent = parsed === undefined ? words.bad_json : words.too_complex;
        note.hidden = false;
        if (details) details.open = true;
      }
    }

    textarea.addEventListener("input", function () {
      fromText(false);
      schedule();
    });
    // Enter in a builder field must not save the form.
    root.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target.tagName === "INPUT") event.preventDefault();
    });

    fromText(true);
    if (details && !document.getElementById("rule-problems") && !root.hidden) details.open = false;
    preview();
  });
})();
