// Every <time datetime="...Z"> in the viewer's own time zone and language, the zone and UTC on hover.
// Without script the server's text stays: the same moment in PORTAL_TIMEZONE, labelled with that zone.
(function () {
  "use strict";
  var shown = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", year: "numeric", hour: "numeric", minute: "2-digit"
  });
  var full = new Intl.DateTimeFormat(undefined, {
    weekday: "long", day: "numeric", month: "long", year: "numeric", hour: "numeric", minute: "2-digit",
    second: "2-digit", timeZoneName: "long"
  });

  Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (element) {
    var moment = new Date(element.getAttribute("datetime"));
    if (isNaN(moment.getTime())) return;
    element.title = full.format(moment) + " (" + moment.toISOString().slice(0, 16).replace("T", " ") + " UTC)";
    element.textContent = shown.format(moment);
  });
})();
