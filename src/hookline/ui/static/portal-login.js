// Consumer portal sign-in: the magic link's key is in the URL's fragment (never sent to
// a server, never in a Referer). Read it, take it out of the address bar and the
// history, and redeem it once; the answer sets the session cookie and says where to go.
"use strict";
(function () {
  const title = document.getElementById("portal-login-title");
  const status = document.getElementById("portal-login-status");
  if (!status) return; // the signed-out page
  const show = (heading, text) => {
    title.textContent = heading;
    status.textContent = text;
    status.classList.add("error");
  };
  const key = new URLSearchParams(location.hash.replace(/^#/, "")).get("key");
  history.replaceState(null, "", location.pathname);
  if (!key) {
    show("This link is incomplete", "Open the portal again from the application that sent you here.");
    return;
  }
  fetch("/portal/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ key }),
  })
    .then(async (res) => {
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      if (res.ok && data && typeof data.redirect === "string" && data.redirect.startsWith("/portal/")) {
        location.replace(data.redirect);
        return;
      }
      const detail = data && typeof data.detail === "string" ? data.detail : "The link could not be used.";
      show("This link cannot be used", detail + " Ask the application that sent you here for a new one.");
    })
    .catch(() => show("No connection", "The server could not be reached. Try the link again."));
})();
