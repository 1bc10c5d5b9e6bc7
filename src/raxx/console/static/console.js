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

  // Live fragments (the orders table, the Overview's panels, positions, the trading switch,
  // health, releases): fetch this very URL (path and query string, so the filters and the
  // page stay as they are) asking for the fragment only (X-Raxx-Fragment: its id), and swap
  // it in; paused while the tab is hidden. A fragment
  // names its environment; one for another environment is never shown (the URL pins this
  // tab to one environment and so does its content). Each console instance renders the
  // same fragment from the shared state, so any instance may answer.
  document.querySelectorAll("[data-fragment][data-refresh-every]").forEach(function (start) {
    var id = start.id;
    var every = parseInt(start.getAttribute("data-refresh-every") || "0", 10);
    if (!id || !every || every < 1) { return; }
    var env = start.getAttribute("data-env");
    var busy = false;

    function current() { return document.getElementById(id); }

    function interacting(node) {
      // Never swap the fragment under the pointer's click or a focused control, nor while
      // one of its fields holds something typed (a halt reason, a promotion's confirmation).
      var active = document.activeElement;
      if (active && node.contains(active) && active !== node) { return true; }
      return Array.prototype.some.call(node.querySelectorAll("textarea, input:not([type=hidden])"), function (field) {
        return field.value !== field.defaultValue;
      });
    }

    function refresh() {
      var node = current();
      if (!node || busy || document.hidden || interacting(node)) { return; }
      busy = true;
      fetch(window.location.pathname + window.location.search, {
        headers: { "X-Raxx-Fragment": id },
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
        var fresh = doc.getElementById(id);
        var node = current();
        if (node && fresh && fresh.getAttribute("data-env") === env) {
          node.replaceWith(fresh);
        }
      }).catch(function () { /* offline for a moment: the next tick tries again */ })
        .finally(function () { busy = false; });
    }

    window.setInterval(refresh, every * 1000);
    // A tab shown again catches up at once instead of waiting a whole period.
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
  });
})();
