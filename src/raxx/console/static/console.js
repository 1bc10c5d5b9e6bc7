// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // The switcher submits on change; the button stays for keyboard and no-JS users.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });
})();
