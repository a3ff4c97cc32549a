/* The journey map's "Save as PNG": the map's own SVG download (same query) drawn on a canvas
   at twice its size and saved as journey-map-YYYY-MM-DD.png, all in the browser. The SVG stands
   alone (no fonts or images from elsewhere), so the canvas stays clean and toBlob works; the
   page's Content-Security-Policy allows images from here and data: URLs, nothing more. */
(function () {
  "use strict";

  var SCALE = 2;

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  function loadImage(svgText) {
    return new Promise(function (resolve, reject) {
      var image = new Image();
      image.onload = function () { resolve(image); };
      image.onerror = function () { reject(new Error("the SVG did not load as an image")); };
      image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svgText);
    });
  }

  function sizeOf(image, svgText) {
    // The SVG names its width and height; an image without them falls back to its own size.
    var doc = new DOMParser().parseFromString(svgText, "image/svg+xml").documentElement;
    var width = parseFloat(doc.getAttribute("width")) || image.naturalWidth;
    var height = parseFloat(doc.getAttribute("height")) || image.naturalHeight;
    return { width: width, height: height };
  }

  function toPng(image, size) {
    var canvas = document.createElement("canvas");
    canvas.width = Math.ceil(size.width * SCALE);
    canvas.height = Math.ceil(size.height * SCALE);
    var context = canvas.getContext("2d");
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.scale(SCALE, SCALE);
    context.drawImage(image, 0, 0, size.width, size.height);
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) {
        if (blob) { resolve(blob); } else { reject(new Error("the canvas gave no PNG")); }
      }, "image/png");
    });
  }

  function save(blob, name) {
    var url = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  ready(function () {
    var button = document.getElementById("map-png");
    if (!button || !window.fetch || !window.Promise || !HTMLCanvasElement.prototype.toBlob) {
      return;  // without them the CSV and SVG downloads are still there
    }
    var status = document.getElementById("map-png-status");
    function say(words) { if (status) { status.textContent = words; } }
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      say(button.getAttribute("data-working") || "");
      fetch(button.getAttribute("data-svg"), { credentials: "same-origin" })
        .then(function (reply) {
          if (!reply.ok) { throw new Error("the SVG answered " + reply.status); }
          return reply.text();
        })
        .then(function (svgText) {
          return loadImage(svgText).then(function (image) {
            return toPng(image, sizeOf(image, svgText));
          });
        })
        .then(function (blob) {
          save(blob, button.getAttribute("data-filename") || "journey-map.png");
          say("");
        })
        .catch(function () {
          say(button.getAttribute("data-failed") || "");
        })
        .then(function () { button.disabled = false; });
    });
  });
})();
