// Sizes and durations written as portal/formatting.py writes them (same rules, same rounding): window.PortalFormat.
(function () {
  "use strict";
  var MISSING = "\u2014";
  var SIZE_UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

  // Half up, as Python's round_half_up; rounding in whole numbers keeps both sides equal on ties.
  function whole(value) { return Math.floor(value + 0.5); }

  function pad(number) { return (number < 10 ? "0" : "") + number; }

  function size(bytes) {
    if (bytes === null || bytes === undefined) return MISSING;
    var count = whole(bytes);
    if (count < 0) return "-" + size(-count);
    if (count < 1024) return count + " B";
    for (var power = 1; power <= SIZE_UNITS.length; power++) {
      var base = Math.pow(1024, power), unit = SIZE_UNITS[power - 1];
      var tenths = Math.floor((count * 20 + base) / (2 * base));
      if (tenths < 100) return Math.floor(tenths / 10) + "." + (tenths % 10) + " " + unit;
      var rounded = Math.floor((count * 2 + base) / (2 * base));
      if (rounded < 1024 || power === SIZE_UNITS.length) return rounded + " " + unit;
    }
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return MISSING;
    var total = whole(seconds);
    if (total < 0) return "-" + duration(-total);
    if (total < 60) return total + " s";
    if (total < 3600) return Math.floor(total / 60) + " min " + pad(total % 60) + " s";
    if (total < 86400) return Math.floor(total / 3600) + " h " + pad(Math.floor(total % 3600 / 60)) + " min";
    return Math.floor(total / 86400) + " d " + pad(Math.floor(total % 86400 / 3600)) + " h";
  }

  window.PortalFormat = { size: size, duration: duration, whole: whole };
})();
