// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // The switcher submits on change; the button stays for keyboard and no-JS users.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });

  // Copy a full id (the list shows a short one); delegated, so refreshed tables work too.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
    }).catch(function () { /* no clipboard permission: the id is in the link's title */ });
  });

  // Orders table auto-refresh: fetch this very URL (path and query string, so the
  // filters and the page stay as they are) asking for the table only, and swap it in.
  // The fragment names its environment; a fragment for another environment is never
  // shown (the URL pins this tab to one environment and so does its content).
  var table = document.getElementById("orders-table");
  if (!table) { return; }
  var every = parseInt(table.getAttribute("data-refresh-every") || "0", 10);
  if (!every || every < 1) { return; }
  var env = table.getAttribute("data-env");
  var busy = false;

  function interacting() {
    // Never swap the table under the pointer's click or a focused button.
    var active = document.activeElement;
    return active && table.contains(active) && active !== table;
  }

  function refresh() {
    if (busy || document.hidden || interacting()) { return; }
    busy = true;
    fetch(window.location.pathname + window.location.search, {
      headers: { "X-Raxx-Fragment": "orders-table" },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      if (response.redirected || (response.headers.get("content-type") || "").indexOf("text/html") !== 0) {
        return null;  // signed out or something unexpected: leave the page as it is
      }
      return response.text();
    }).then(function (html) {
      if (!html) { return; }
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("orders-table");
      if (fresh && fresh.getAttribute("data-env") === env) {
        table.replaceWith(fresh);
        table = fresh;
      }
    }).catch(function () { /* offline for a moment: the next tick tries again */ })
      .finally(function () { busy = false; });
  }

  window.setInterval(refresh, every * 1000);
})();
