// The console's one script (served from /assets/; the Content-Security-Policy allows no
// inline script). Pages work without it; it adds the soak countdown and live updates: a
// Server-Sent Events stream says when something changed, and the page's main part is
// fetched again and swapped in place — not while the user is typing in a form.
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

  var waiting = false;
  function busy() {
    var a = document.activeElement;
    return a && a.form && a.value !== undefined && a.value !== "" && a.type !== "submit";
  }
  function refresh() {
    var main = document.getElementById("main");
    if (!main) return;
    if (busy()) { waiting = true; return; }
    waiting = false;
    var url = location.pathname + location.search.replace(/([?&])done=[^&]*&?/, "$1").replace(/[?&]$/, "");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (!fresh) return;
        main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes).map(function (n) {
          return document.importNode(n, true);
        }));
        tick();
        document.documentElement.dataset.updated = String(Date.now());
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 30000);
    var main = document.getElementById("main");
    if (main && main.dataset.live && window.EventSource) {
      var es = new EventSource(main.dataset.live);
      es.addEventListener("change", refresh);
      document.addEventListener("focusout", function () { if (waiting) setTimeout(refresh, 0); });
    }
  });
})();
