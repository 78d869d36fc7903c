// Delete links lead to a confirmation page; where <dialog> works, the same question is asked in place.
(function () {
  "use strict";
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;
  var form = dialog.querySelector("form");
  var submit = dialog.querySelector(".confirm-submit");
  dialog.querySelector(".confirm-cancel").addEventListener("click", function () { dialog.close(); });
  Array.prototype.forEach.call(document.querySelectorAll("a[data-confirm][data-confirm-action]"), function (link) {
    link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      form.action = link.dataset.confirmAction;
      dialog.querySelector(".confirm-question").textContent = link.dataset.confirm;
      dialog.querySelector(".confirm-note").textContent = link.dataset.confirmNote || "";
      submit.setAttribute("aria-label", link.getAttribute("aria-label") || "Delete");
      dialog.showModal();
      submit.focus();
    });
  });
})();
