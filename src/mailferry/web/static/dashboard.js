// mailferry dashboard: live updates over server-sent events (no library, no outside URL).
// The server sends escaped HTML fragments by element id; this only swaps them in, so all
// escaping stays on the server, in the same templates the first page load used.
(function () {
  "use strict";
  var source = document.body.getAttribute("data-events");
  var badge = document.getElementById("live-state");
  if (!source || !window.EventSource) { return; }
  var updates = 0;
  function show(text) { if (badge) { badge.textContent = text; } }
  show("connecting…");
  var events = new EventSource(source);
  events.addEventListener("update", function (event) {
    var parts = JSON.parse(event.data);
    Object.keys(parts).forEach(function (key) {
      var target = document.getElementById("live-" + key);
      if (target) { target.innerHTML = parts[key]; }
    });
    updates += 1;
    if (badge) { badge.setAttribute("data-updates", String(updates)); }
    show("live · updated " + new Date().toLocaleTimeString());
  });
  events.addEventListener("open", function () { show("live"); });
  events.addEventListener("error", function () { show("reconnecting…"); });
}());
