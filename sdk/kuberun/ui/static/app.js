// kuberun dashboard: live refresh of page parts (polling with ETag), the log follower (SSE),
// and keyboard navigation. No framework and no network beyond this server.
"use strict";

// Elements with data-live-src are re-fetched every data-live-every ms while the tab is visible;
// an unchanged part costs a 304. A fragment answered with X-Final: 1 stops its refresh.
function startLive(el) {
  let etag = null;
  const every = Number(el.dataset.liveEvery || 2000);
  async function tick() {
    if (el.dataset.final === "true") return;
    if (!document.hidden) {
      try {
        const headers = etag ? { "If-None-Match": etag } : {};
        const resp = await fetch(el.dataset.liveSrc, { headers, credentials: "same-origin", cache: "no-store" });
        if (resp.status === 200) {
          etag = resp.headers.get("ETag");
          const checked = new Set([...el.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value));
          const focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : null;
          el.innerHTML = await resp.text();
          el.querySelectorAll("input[type=checkbox]").forEach((c) => { c.checked = checked.has(c.value); });
          if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
          el.dispatchEvent(new CustomEvent("live-updated", { bubbles: true }));
        }
        if (resp.headers.get("X-Final") === "1") el.dataset.final = "true";
      } catch (e) { /* the server is restarting or the network blinked: try again next tick */ }
    }
    if (el.dataset.final !== "true") setTimeout(tick, every);
  }
  setTimeout(tick, every);
}

// The log follower: one EventSource at a time, lines appended as text (never as HTML).
function setupFollow() {
  const out = document.getElementById("log-output");
  const status = document.getElementById("log-status");
  const stop = document.getElementById("follow-stop");
  if (!out) return;
  let source = null;
  function close(message) {
    if (source) { source.close(); source = null; }
    stop.disabled = true;
    if (message) status.textContent = message;
  }
  document.querySelectorAll("button.follow").forEach((button) => {
    button.addEventListener("click", () => {
      close();
      out.textContent = "";
      out.dataset.task = button.dataset.task;
      status.textContent = "Following " + button.dataset.task + "…";
      stop.disabled = false;
      source = new EventSource(button.dataset.followSrc);
      source.addEventListener("line", (ev) => {
        const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.appendChild(document.createTextNode(ev.data + "\n"));
        if (atBottom) out.scrollTop = out.scrollHeight;
      });
      source.addEventListener("end", (ev) => close("Stopped following " + button.dataset.task + ": " + ev.data + "."));
      source.addEventListener("error", (ev) => close(ev.data ? "Log unavailable: " + ev.data : "The log stream ended."));
    });
  });
  stop.addEventListener("click", () => close("Stopped following."));
}

// Keys: "/" focuses the first filter; j/k move between rows of the list; Enter follows the link.
function setupKeys() {
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "/") {
      const search = document.getElementById("f-title");
      if (search) { ev.preventDefault(); search.focus(); }
    } else if (ev.key === "j" || ev.key === "k") {
      const links = [...document.querySelectorAll("a.row-link")];
      if (!links.length) return;
      const at = links.indexOf(document.activeElement);
      const next = ev.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
      links[at < 0 ? 0 : next].focus();
      ev.preventDefault();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live-src]").forEach(startLive);
  setupFollow();
  setupKeys();
});
