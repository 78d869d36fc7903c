// Uploads with progress: direct upload on a document page, staging on the new-document form.
// Without JavaScript both forms still work as plain multipart forms.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  var humanSize = window.PortalFormat.size;  // static/format.js, the same rules as the pages

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One list row with a progress bar; returns helpers to update it.
  function progressRow(list, file) {
    var row = element("li", "uploading");
    var name = element("span", "name", file.name || "pasted image");
    var size = element("span", "muted", humanSize(file.size));
    var status = element("span", "status muted", "waiting");
    var bar = element("div", "progress"), fill = element("span");
    bar.appendChild(fill);
    row.append(name, size, status, bar);
    list.appendChild(row);
    return {
      row: row,
      progress: function (fraction) { fill.style.width = Math.round(fraction * 100) + "%"; status.textContent = Math.round(fraction * 100) + "%"; },
      done: function (text) { bar.remove(); status.textContent = text || "done"; row.className = "done"; },
      fail: function (message) { row.className = "failed"; status.textContent = "failed"; bar.remove(); row.appendChild(element("span", "message", message)); }
    };
  }

  function send(url, body, ui, contentType) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      if (contentType) xhr.setRequestHeader("Content-Type", contentType);
      xhr.upload.onprogress = function (event) { if (event.lengthComputable) ui.progress(event.loaded / event.total); };
      xhr.onload = function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) { resolve({ ok: true, answer: answer }); return; }
        var message = answer && answer.message ? answer.message : "The server answered " + xhr.status + ".";
        ui.fail(message);
        resolve({ ok: false });
      };
      xhr.onerror = function () { ui.fail("The connection failed. Please try again."); resolve({ ok: false }); };
      xhr.send(body);
    });
  }

  function tooLarge(file, maxBytes, ui) {
    if (maxBytes && file.size > maxBytes) {
      ui.fail("This file is larger than the limit of " + humanSize(maxBytes) + ". Nothing was uploaded.");
      return true;
    }
    return false;
  }

  function wireDropzone(zone, onFiles) {
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) onFiles(event.dataTransfer.files);
    });
  }

  // --- direct upload on a document page -------------------------------------------------------
  var uploadForm = document.getElementById("upload-form");
  if (uploadForm) {
    var list = document.getElementById("upload-list");
    var input = uploadForm.querySelector("input[type=file]");
    var maxBytes = parseInt(uploadForm.dataset.maxBytes, 10);
    var uploadAll = function (files) {
      var jobs = Array.prototype.map.call(files, function (file) {
        var ui = progressRow(list, file);
        if (tooLarge(file, maxBytes, ui)) return Promise.resolve({ ok: false });
        var body = new FormData();
        body.append("csrf_token", csrf);
        body.append("size", String(file.size));  // lets the portal stream the file to the store in one request
        body.append("files", file, file.name);
        return send(uploadForm.action, body, ui).then(function (result) { if (result.ok) ui.done(); return result; });
      });
      input.value = "";
      Promise.all(jobs).then(function (results) {
        var ids = [];
        results.forEach(function (r) {
          if (r.ok && r.answer && r.answer.files) r.answer.files.forEach(function (f) { ids.push(f.id); });
        });
        if (!ids.length) return;
        var page = uploadForm.dataset.documentUrl + "?new=" + ids.join(",") + "#attachments";
        if (results.every(function (r) { return r.ok; })) { window.location.assign(page); return; }
        // Some were refused: their reasons stay in the list above; say what was saved and link to it.
        var note = document.createElement("li");
        var link = document.createElement("a");
        link.href = page;
        link.textContent = "Show the saved files";
        note.className = "upload-summary";
        note.textContent = ids.length + " of " + results.length + " saved; the others were refused (see above). ";
        note.appendChild(link);
        list.appendChild(note);
      });
    };
    uploadForm.addEventListener("submit", function (event) {
      if (!input.files.length) return;
      event.preventDefault();
      uploadAll(input.files);
    });
    wireDropzone(document.getElementById("dropzone"), uploadAll);
  }

  // --- staging on the new-document form --------------------------------------------------------
  var staging = document.getElementById("staging");
  if (staging) {
    var stagedList = document.getElementById("staged-list");
    var fileInput = staging.querySelector("input[type=file]");
    var limit = parseInt(staging.dataset.maxBytes, 10);

    var addStaged = function (ui, file) {
      ui.done("staged");
      ui.row.dataset.stagingId = file.id;
      var hidden = element("input");
      hidden.type = "hidden"; hidden.name = "staged_ids"; hidden.value = file.id;
      var remove = element("button", "link remove", "Remove");
      remove.type = "button";
      remove.dataset.removeUrl = "/staging/" + file.id + "/delete";
      ui.row.append(hidden, remove);
    };

    var form = document.getElementById("document-form");
    var saveButton = form.querySelector("button[type=submit]");
    var pendingUploads = 0;
    var track = function (promise) {
      pendingUploads++;
      saveButton.disabled = true;
      return promise.then(function (result) {
        pendingUploads--;
        saveButton.disabled = pendingUploads > 0;
        return result;
      });
    };

    var stage = function (files) {
      Array.prototype.forEach.call(files, function (file) {
        var ui = progressRow(stagedList, file);
        if (tooLarge(file, limit, ui)) return;
        var body = new FormData();
        body.append("csrf_token", csrf);
        body.append("size", String(file.size));  // lets the portal stream the file to the store in one request
        body.append("files", file, file.name);
        track(send(staging.dataset.stageUrl, body, ui)).then(function (result) {
          if (result.ok) addStaged(ui, result.answer.files[0]);
        });
      });
      fileInput.value = "";
    };

    fileInput.addEventListener("change", function () { if (fileInput.files.length) stage(fileInput.files); });
    wireDropzone(document.getElementById("dropzone"), stage);

    stagedList.addEventListener("click", function (event) {
      var button = event.target.closest("button.remove");
      if (!button) return;
      var row = button.closest("li");
      fetch(button.dataset.removeUrl, { method: "POST", headers: { "X-CSRFToken": csrf, "Accept": "application/json" } })
        .then(function (response) { if (response.ok) row.remove(); });
    });

    // Leaving with files uploaded or fields filled in asks first; Save and Cancel (which removes the
    // staged files) are deliberate ways out and do not.
    var leaving = false;
    form.addEventListener("submit", function () { leaving = true; });
    var somethingToLose = function () {
      if (pendingUploads > 0 || stagedList.querySelector("li[data-staging-id]")) return true;
      return Array.prototype.some.call(form.querySelectorAll("input[type=text], input[type=date], textarea"), function (field) {
        return field.value.trim() !== field.defaultValue.trim();
      });
    };
    window.addEventListener("beforeunload", function (event) {
      if (leaving || !somethingToLose()) return;
      event.preventDefault();
      event.returnValue = "";  // older browsers ask only when this is set
    });
    window.addEventListener("pageshow", function () { leaving = false; });

    // A pasted image goes to staging as a data: URL (base64).
    document.addEventListener("paste", function (event) {
      var items = (event.clipboardData && event.clipboardData.items) || [];
      Array.prototype.forEach.call(items, function (item) {
        if (item.kind !== "file" || item.type.indexOf("image/") !== 0) return;
        var blob = item.getAsFile();
        var name = "pasted-" + new Date().toISOString().replace(/[:.]/g, "-") + "." + item.type.split("/")[1];
        var ui = progressRow(stagedList, { name: name, size: blob.size });
        var reader = new FileReader();
        reader.onload = function () {
          var url = staging.dataset.stage64Url + "?filename=" + encodeURIComponent(name);
          track(send(url, reader.result, ui, "text/plain")).then(function (result) {
            if (result.ok) addStaged(ui, result.answer.files[0]);
          });
        };
        reader.readAsDataURL(blob);
      });
    });
  }
})();
