// The endpoint page's follow-ups to its API calls (see hl.js): the revealed secret, the
// test event sent, and the background task a recovery or replay started.
"use strict";
(function () {
  const hl = window.hl;
  const text = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };

  hl.then.reveal = async (el, data) => { text("secret-value", data.key); };
  hl.then.hideSecret = async () => { text("secret-value", "••••••••••••"); };
  hl.then.sent = async (el, data) => {
    const out = document.getElementById("example-result");
    if (out) {
      const link = document.createElement("a");
      link.href = out.dataset.messageHref + encodeURIComponent(data.id);
      link.textContent = data.id;
      out.replaceChildren("Sent " + data.eventType + " as message ", link, ".");
    }
    hl.toast("Test event sent");
  };

  async function follow(id) {
    const status = document.getElementById("task-status");
    for (let i = 0; i < 30 && status && status.dataset.poll !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      let task;
      try { task = await hl.api("GET", "/api/v1/background-task/" + encodeURIComponent(id)); } catch (e) { return; }
      const done = task.data && task.data.messagesQueued !== undefined ? " (" + task.data.messagesQueued + " messages queued)" : "";
      status.textContent = "Task " + task.id + ": " + task.status + done;
      if (task.status !== "running") return;
    }
  }
  hl.then.task = async (el, data) => {
    text("task-status", "Task " + data.id + " (" + data.task + "): " + data.status);
    follow(data.id);
  };
})();
