// The live tail: attempts arrive as server-sent events and are prepended to the table.
// Paused, they are counted and held; Resume shows them. EventSource reconnects by itself
// and sends Last-Event-ID, so nothing is missed across a reconnect.
"use strict";
(function () {
  const source = document.getElementById("live-data");
  if (!source) return;
  const spec = JSON.parse(source.textContent);
  const rows = document.getElementById("live-rows");
  const toggle = document.getElementById("live-toggle");
  const state = document.getElementById("live-state");
  const held = document.getElementById("live-held");
  const MAX_ROWS = 500;
  let paused = false;
  let waiting = [];

  const cell = (tr, text, cls) => {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  };
  const row = (a) => {
    const tr = document.createElement("tr");
    tr.dataset.testid = "live-row";
    tr.dataset.attemptId = a.id;
    cell(tr, a.time);
    cell(tr, a.app_id);
    cell(tr, a.url + " (" + a.endpoint_id + ")");
    cell(tr, a.event_type);
    const status = cell(tr, "");
    const badge = document.createElement("span");
    badge.className = "badge " + a.badge;
    badge.textContent = a.status + (a.response_status ? " · " + a.response_status : "") + (a.error_kind ? " · " + a.error_kind : "");
    status.appendChild(badge);
    cell(tr, a.duration_ms + " ms");
    const link = document.createElement("a");
    link.href = a.link;
    link.textContent = a.msg_id;
    cell(tr, "").appendChild(link);
    return tr;
  };
  const show = (list) => {
    for (const a of list) rows.insertBefore(row(a), rows.firstChild);
    while (rows.children.length > MAX_ROWS) rows.removeChild(rows.lastChild);
  };
  const showHeld = () => {
    held.hidden = !paused;
    held.textContent = waiting.length + " new while paused";
  };

  const events = new EventSource(spec.stream);
  events.addEventListener("open", () => { state.textContent = "Live"; });
  events.addEventListener("error", () => { state.textContent = "Reconnecting…"; });
  events.addEventListener("attempt", (e) => {
    const a = JSON.parse(e.data);
    if (paused) { waiting.push(a); showHeld(); } else show([a]);
  });
  events.addEventListener("end", () => {
    events.close();
    state.textContent = "Session ended: sign in again to keep watching.";
  });

  toggle.addEventListener("click", () => {
    paused = !paused;
    toggle.textContent = paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-pressed", paused ? "true" : "false");
    if (!paused) { show(waiting); waiting = []; }
    showHeld();
  });
})();
