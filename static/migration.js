// Live progress of a migration or verification run: polls the run's JSON view and updates the bar in place.
(function () {
  "use strict";
  var POLL_MS = 1000;

  // static/format.js: the same rules as the server's page and the CLI.
  var bytes = window.PortalFormat.size, duration = window.PortalFormat.duration, whole = window.PortalFormat.whole;

  function watch(box) {
    var fields = {};
    Array.prototype.forEach.call(box.querySelectorAll("[data-field]"), function (el) { fields[el.dataset.field] = el; });
    var bar = box.querySelector(".progress");
    var unit = box.dataset.kind === "verify" ? "objects" : "files";

    function show(p) {
      var handled = p.items_done + p.items_failed + p.items_skipped;
      fields.bar.style.width = p.percent + "%";
      bar.setAttribute("aria-valuenow", p.percent);
      fields.percent.textContent = p.percent + "%";
      fields.state.textContent = p.state;
      fields.handled.textContent = handled;
      fields.items_total.textContent = p.items_total;
      fields.bytes.textContent = bytes(p.bytes_done) + " of " + bytes(p.bytes_total);
      fields.rate.textContent = whole(p.items_per_second) + " " + unit + "/s, " + bytes(p.bytes_per_second) + "/s";
      fields.eta.textContent = duration(p.eta_seconds);
      fields.failed.textContent = p.items_failed;
      fields.message.textContent = p.message || "";
    }

    function poll() {
      var request = new XMLHttpRequest();
      request.open("GET", box.dataset.url);
      request.setRequestHeader("Accept", "application/json");
      request.onload = function () {
        if (request.status !== 200) { window.setTimeout(poll, POLL_MS * 5); return; }
        var p = JSON.parse(request.responseText);
        show(p);
        if (p.finished) {
          box.dataset.finished = "true";
          // Once, to show the final summary, the failures and the actions that now apply.
          window.setTimeout(function () { window.location.reload(); }, 1500);
        } else {
          window.setTimeout(poll, POLL_MS);
        }
      };
      request.onerror = function () { window.setTimeout(poll, POLL_MS * 5); };
      request.send();
    }

    if (box.dataset.finished !== "true") { poll(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-run-progress]"), watch);
  });
})();
