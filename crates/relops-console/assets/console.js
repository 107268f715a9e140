// The console's one script (served from /assets/; the Content-Security-Policy allows no
// inline script). Pages work without it; it adds the soak countdown.
"use strict";
(function () {
  function tick() {
    document.querySelectorAll("time.countdown").forEach(function (t) {
      var left = Date.parse(t.getAttribute("datetime")) - Date.now();
      if (isNaN(left)) return;
      if (left <= 0) { t.textContent = "now"; return; }
      var h = Math.floor(left / 3600000), m = Math.floor((left % 3600000) / 60000);
      t.textContent = "in " + h + " h " + m + " min";
      t.title = t.getAttribute("datetime");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 30000); });
})();
