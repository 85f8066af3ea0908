// The desk's page: live updates of the alert list, acknowledgements and silences.
// Served from 'self' under a CSP without inline script; feed text arrives only inside
// HTML that the server escaped.
"use strict";

const POLL_MS = 5000;

function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("watcher_csrf="));
  return found ? decodeURIComponent(found.slice("watcher_csrf=".length)) : "";
}

function showError(message) {
  const box = document.getElementById("desk-error");
  if (box) {
    box.textContent = message;
    box.hidden = !message;
  }
}

async function send(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try {
      message = (await response.json()).error || message;
    } catch (e) {
      // not JSON: keep the status line
    }
    throw new Error(message);
  }
  return response.json();
}

async function fragment(params) {
  const response = await fetch("/desk/alerts?" + params.toString(), { credentials: "same-origin" });
  if (!response.ok) throw new Error(response.status + " " + response.statusText);
  return { html: await response.text(), newest: Number(response.headers.get("X-Desk-Newest") || 0) };
}

async function pollNewer(list) {
  const params = new URLSearchParams(list.dataset.query || "");
  params.set("after", list.dataset.newest || "0");
  try {
    const { html, newest } = await fragment(params);
    if (newest > Number(list.dataset.newest || 0)) {
      list.insertAdjacentHTML("afterbegin", html);
      list.dataset.newest = String(newest);
    }
    document.getElementById("live").textContent = "live";
  } catch (e) {
    document.getElementById("live").textContent = "offline: " + e.message;
  }
}

async function redraw(alertId) {
  const item = document.querySelector(`li.alert[data-alert-id="${CSS.escape(alertId)}"]`);
  const { html } = await fragment(new URLSearchParams({ alert_id: alertId }));
  if (item && html.trim()) item.outerHTML = html;
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (form.classList.contains("ack")) {
    event.preventDefault();
    try {
      await send("POST", "/api/v1/acks", { alert_id: form.dataset.alertId, note: form.note.value });
      await redraw(form.dataset.alertId);
    } catch (e) {
      showError("acknowledge failed: " + e.message);
    }
  } else if (form.id === "silence-form") {
    event.preventDefault();
    try {
      await send("POST", "/api/v1/silences", {
        matchers: [{ kind: form.kind.value, value: form.value.value }],
        duration: form.duration.value,
        reason: form.reason.value,
      });
      window.location.reload();
    } catch (e) {
      showError("silence failed: " + e.message);
    }
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.expire");
  if (!button) return;
  try {
    await send("DELETE", "/api/v1/silences/" + encodeURIComponent(button.dataset.silenceId));
    window.location.reload();
  } catch (e) {
    showError("expire failed: " + e.message);
  }
});

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("alerts");
  if (list && !new URLSearchParams(window.location.search).has("cursor")) {
    setInterval(() => pollNewer(list), POLL_MS);
  }
});
