// The message page: after a resend, wait for the new attempt (poll the API's attempt
// list for this message) and reload so it shows.
"use strict";
(function () {
  const source = document.getElementById("message-data");
  if (!source || !window.hl) return;
  const data = JSON.parse(source.textContent);
  const path = "/api/v1/app/" + encodeURIComponent(data.app) + "/attempt/msg/" + encodeURIComponent(data.msg) + "?limit=250";
  const count = async () => {
    const page = await window.hl.api("GET", path);
    return page && page.data ? page.data.length : 0;
  };
  window.hl.then.resent = async () => {
    const before = data.attempts; // as the page showed them: the new one may be in already
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        if ((await count()) > before) { window.location.reload(); return; }
      } catch (err) { return; }
    }
  };
})();
