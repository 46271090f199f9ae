// The home page's live feed: one card per `rare` event of GET /api/feed (server-sent events), newest first,
// at most MAX cards. EventSource reconnects by itself after a dropped connection.
import { card } from "./cards.js";

const MAX = 24;
const list = document.getElementById("feed");
const note = document.getElementById("feed-note");

if (list && "EventSource" in window) {
  const source = new EventSource(list.dataset.src || "/api/feed");
  source.addEventListener("rare", (event) => {
    let found;
    try { found = JSON.parse(event.data); } catch { return; }
    const item = document.createElement("li");
    item.append(card(found));
    list.prepend(item);
    while (list.children.length > MAX) list.lastElementChild.remove();
    if (note) note.textContent = "Live: new rare finds appear first.";
  });
  source.addEventListener("open", () => { if (note && !list.children.length) note.textContent = "Live: waiting for the next rare find…"; });
  source.addEventListener("error", () => { if (note && source.readyState === EventSource.CONNECTING) note.textContent = "Feed interrupted: reconnecting…"; });
  window.addEventListener("pagehide", () => source.close());
}
