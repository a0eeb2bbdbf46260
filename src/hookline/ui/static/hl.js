// hookline pages: the theme, the toasts, and every change a page makes, sent to the REST
// API with the session cookie and its CSRF token. No inline script runs (CSP).
"use strict";
(function () {
  const hl = (window.hl = {});
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // theme: light, dark, or the system's; remembered per browser
  const root = document.documentElement;
  // a framed portal may have no storage (third-party storage blocked): the theme then
  // lasts for the page only
  const storage = (() => { try { return window.localStorage; } catch (e) { return null; } })();
  const stored = storage && storage.getItem("hookline-theme");
  const systemDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  root.dataset.theme = stored || (systemDark ? "dark" : "light");
  hl.setTheme = (theme) => {
    root.dataset.theme = theme;
    if (storage) storage.setItem("hookline-theme", theme);
    document.dispatchEvent(new CustomEvent("hl:theme"));
  };

  hl.toast = (text, failed) => {
    const box = document.getElementById("toast");
    if (!box) return;
    const msg = document.createElement("div");
    msg.className = "msg" + (failed ? " fail" : "");
    msg.textContent = text;
    box.appendChild(msg);
    setTimeout(() => msg.remove(), 6000);
  };

  // One API call; resolves to the parsed JSON body (or null), rejects with the API's detail.
  hl.api = async (method, path, body) => {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      let detail = data && data.detail !== undefined ? data.detail : res.statusText;
      if (typeof detail !== "string") detail = JSON.stringify(detail);
      const err = new Error(detail || ("HTTP " + res.status));
      err.status = res.status;
      throw err;
    }
    return data;
  };

  const split = (spec) => {
    const at = spec.indexOf(" ");
    return [spec.slice(0, at), spec.slice(at + 1)];
  };

  // a form's fields as the API's JSON: data-type="int|bool|list|json" on an input says how
  hl.formBody = (form) => {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.name === "csrf_token") continue;
      const type = el.dataset.type || "string";
      let value;
      if (el.type === "checkbox") value = el.checked;
      else if (el.value === "" && el.dataset.empty === "null") value = null; // clears the field
      else if (el.value === "" && type !== "string") continue;
      else if (type === "int") value = parseInt(el.value, 10);
      else if (type === "list") value = el.value.split(",").map((s) => s.trim()).filter(Boolean);
      else if (type === "json") value = JSON.parse(el.value);
      else if (type === "datetime") value = new Date(el.value).toISOString();
      else if (el.value === "" && el.dataset.omitEmpty !== undefined) continue;
      else value = el.value;
      body[el.name] = value;
    }
    return body;
  };

  const after = async (el, data) => {
    if (el.dataset.done) hl.toast(el.dataset.done);
    const handler = el.dataset.then && hl.then[el.dataset.then];
    if (handler) await handler(el, data);
    if (el.dataset.redirect) window.location.assign(el.dataset.redirect.replace("{id}", data && data.id ? data.id : ""));
    else if (el.dataset.reload !== undefined) window.location.reload();
  };
  hl.then = {}; // named follow-ups that page scripts register

  document.addEventListener("click", async (event) => {
    const toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) {
      hl.setTheme(root.dataset.theme === "dark" ? "light" : "dark");
      return;
    }
    const button = event.target.closest("button[data-api]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const [method, path] = split(button.dataset.api);
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    button.disabled = true;
    try {
      await after(button, await hl.api(method, path, body));
    } catch (err) {
      hl.toast(err.message, true);
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-api-form]");
    if (!form) return;
    event.preventDefault();
    const [method, path] = split(form.dataset.apiForm);
    let body;
    try {
      body = hl.formBody(form);
    } catch (err) {
      hl.toast("Not valid JSON: " + err.message, true);
      return;
    }
    const submit = form.querySelector('[type="submit"]');
    if (submit) submit.disabled = true;
    try {
      await after(form, await hl.api(method, path, body));
    } catch (err) {
      hl.toast(err.message, true);
    } finally {
      if (submit) submit.disabled = false;
    }
  });
})();
