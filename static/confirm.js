// Destructive links and forms ask first. Links lead to a confirmation page and forms post unconfirmed (and
// get that page back) when no script runs; where <dialog> works, the same question is asked in place.
(function () {
  "use strict";
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;
  var form = dialog.querySelector("form");
  var submit = dialog.querySelector(".confirm-submit");
  var cancel = dialog.querySelector(".confirm-cancel");
  var pending = null; // the form whose own fields a confirmed dialog sends
  cancel.addEventListener("click", function () { dialog.close(); });
  // A confirmed form posts itself, every field it carries and confirmed=yes; a confirmed link posts the dialog.
  form.addEventListener("submit", function (event) {
    if (!pending) return;
    event.preventDefault();
    var yes = document.createElement("input");
    yes.type = "hidden";
    yes.name = "confirmed";
    yes.value = "yes";
    pending.appendChild(yes);
    dialog.close();
    pending.submit();
  });

  // The question, the note and the buttons' words are data attributes (text, never markup or script).
  function open(source, action, sourceForm) {
    pending = sourceForm || null;
    form.action = action;
    dialog.querySelector(".confirm-question").textContent = source.dataset.confirm;
    dialog.querySelector(".confirm-note").textContent = source.dataset.confirmNote || "";
    submit.textContent = source.dataset.confirmButton || "Delete";
    cancel.textContent = source.dataset.confirmKeep || "Cancel";
    submit.setAttribute("aria-label", source.dataset.confirmLabel || source.getAttribute("aria-label") || submit.textContent);
    dialog.showModal();
    submit.focus();
  }

  Array.prototype.forEach.call(document.querySelectorAll("a[data-confirm][data-confirm-action]"), function (link) {
    link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      open(link, link.dataset.confirmAction);
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (source) {
    source.addEventListener("submit", function (event) {
      event.preventDefault();
      open(source, source.action, source);
    });
  });
})();
