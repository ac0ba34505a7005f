// Live parts of console pages: an element with data-live gets server-sent events.
// "stock" replaces the element's content; "event" adds a row at the top (newest first).
"use strict";
(function () {
  const target = document.querySelector("[data-live]");
  if (!target || !window.EventSource) return;
  const state = document.getElementById("live-state");
  const show = (name, text) => {
    if (!state) return;
    state.dataset.state = name;
    state.textContent = text;
  };
  const source = new EventSource(target.dataset.live);
  source.addEventListener("ready", () => show("live", "live"));
  source.addEventListener("unavailable", (e) => {
    show("unavailable", "live updates unavailable: " + e.data);
    source.close();
  });
  source.addEventListener("stock", (e) => {
    target.innerHTML = e.data;
    target.dataset.updated = e.lastEventId;
  });
  source.addEventListener("event", (e) => {
    target.insertAdjacentHTML("afterbegin", e.data);
    while (target.rows.length > 200) target.deleteRow(-1);
  });
  source.onerror = () => show("reconnecting", "reconnecting…");
})();
