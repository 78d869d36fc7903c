// Live progress of a migration or verification run: polls the run's JSON view and updates the bar in place.
(function () {
  "use strict";
  var POLL_MS = 1000;

  // static/format.js: the same rules as the server's page and the CLI.
  var bytes = window.PortalFormat.size, duration = window.PortalFormat.duration, whole = window.PortalFormat.whole;

  function setTone(element, tone) {
    element.className = element.className.replace(/\btone-\w+/g, "").trim() + " tone-" + tone;
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (text !== undefined) td.textContent = text;
    return td;
  }

  // The failures so far, as the page lists them once the run has ended (text only, never markup).
  function showFailures(box, items) {
    var table = box.querySelector("table"), empty = box.querySelector("[data-failures-empty]");
    var body = table.tBodies[0];
    table.hidden = !items.length;
    empty.hidden = items.length > 0;
    if (body.rows.length === items.length) return;
    while (body.firstChild) body.removeChild(body.firstChild);
    items.forEach(function (item) {
      var row = document.createElement("tr");
      row.className = "tone-" + item.tone;
      var file = cell(undefined, "long");
      if (item.document_url) {
        var link = document.createElement("a");
        link.href = item.document_url;
        link.textContent = item.filename;
        file.appendChild(link);
      } else {
        file.textContent = item.filename || item.where || "\u2014";
      }
      if (item.note) {
        var note = document.createElement("span");
        note.className = "muted";
        note.textContent = " (" + item.note + ")";
        file.appendChild(note);
      }
      var kind = cell(item.table + " #" + item.row_id);
      kind.dataset.label = "Kind:";
      var status = cell(), badge = document.createElement("span");
      badge.className = "badge tone-" + item.tone;
      badge.textContent = item.status;
      status.appendChild(badge);
      row.append(file, kind, status, cell(item.error, "long"));
      body.appendChild(row);
    });
  }

  function watch(box) {
    var fields = {};
    Array.prototype.forEach.call(box.querySelectorAll("[data-field]"), function (el) { fields[el.dataset.field] = el; });
    var bar = box.querySelector(".progress");
    var unit = box.dataset.kind === "verify" ? "objects" : "files";
    var failures = document.querySelector("[data-run-failures]");

    function show(p) {
      var handled = p.items_done + p.items_failed + p.items_skipped;
      fields.bar.style.width = p.percent + "%";
      bar.setAttribute("aria-valuenow", p.percent);
      fields.percent.textContent = p.percent + "%";
      fields.state.textContent = p.state_label;
      setTone(box, p.tone);
      setTone(fields.state, p.tone);
      if (fields.bytes_percent) fields.bytes_percent.textContent = p.bytes_percent;
      fields.handled.textContent = handled;
      fields.items_total.textContent = p.items_total;
      fields.bytes.textContent = bytes(p.bytes_done) + " of " + bytes(p.bytes_total);
      fields.rate.textContent = whole(p.items_per_second) + " " + unit + "/s, " + bytes(p.bytes_per_second) + "/s";
      if (fields.eta) fields.eta.textContent = duration(p.eta_seconds);
      fields.failed.textContent = p.items_failed;
      fields.message.textContent = p.message || "";
      if (failures) showFailures(failures, p.failures || []);
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
