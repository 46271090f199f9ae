// The "me" page: once the wallet is signed in (wallet.js keeps {token, address, expires_at} in sessionStorage
// "multiverse.session" and exposes window.multiverseWallet), GET /api/me with the bearer token and show my
// tokens, my listings and what I discovered and may claim. Re-renders on every "multiverse:wallet" event.
import { card, el, ether } from "./cards.js";

const root = document.getElementById("me");

function session() {
  const w = window.multiverseWallet;
  if (w && w.token) return { token: w.token, address: w.address };
  try {
    const kept = JSON.parse(sessionStorage.getItem("multiverse.session") || "null");
    if (kept && kept.token && (!kept.expires_at || kept.expires_at * 1000 > Date.now())) return kept;
  } catch { /* a damaged entry reads as signed out */ }
  return null;
}

function section(id, items, render, emptyText) {
  const box = document.getElementById(id);
  const holder = box.querySelector(".grid, .listings");
  holder.replaceChildren();
  box.querySelector(".hint")?.remove();
  if (items.length) for (const item of items) holder.append(render(item));
  else box.append(el("p", { class: "hint" }, emptyText));
  box.hidden = false;
}

function tokenCard(t) {
  const c = t.card || t.vector || t;
  const id = String(t.token_id || "");
  return card({ ...c, url: c.url || (c.snapshot ? `/v/${c.snapshot}/${c.kind}/${c.index}` : "#"),
                token_id: id || c.token_id }, id ? "0x" + id.replace(/^0x/, "").slice(0, 10) + "…" : "");
}

function listingItem(l) {
  const li = el("li", { class: "listing" }, el("span", { class: "price" }, ether(l.price ?? l.price_wei) + " ETH"),
                el("span", { class: "status" }, String(l.status || "")),
                el("code", {}, "token 0x" + String(l.token_id || "").replace(/^0x/, "").slice(0, 10) + "…"));
  if (l.status === "active") {
    const cancel = el("button", { type: "button", class: "quiet", "data-action": "cancel", "data-listing": JSON.stringify(l) }, "Cancel");
    li.append(cancel);
  }
  return li;
}

async function render() {
  const signedOut = document.getElementById("me-signed-out");
  const who = session();
  if (!who) {
    signedOut.hidden = false;
    for (const id of ["me-tokens", "me-listings", "me-claimable"]) document.getElementById(id).hidden = true;
    return;
  }
  const headers = { Authorization: `Bearer ${who.token}` };
  const response = window.multiverseWallet?.fetch
    ? await window.multiverseWallet.fetch(root.dataset.src || "/api/me")
    : await fetch(root.dataset.src || "/api/me", { headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    signedOut.hidden = false;
    signedOut.querySelector(".empty-title").textContent = body?.error?.message || `GET /api/me answered ${response.status}`;
    return;
  }
  signedOut.hidden = true;
  section("me-tokens", body.tokens || [], tokenCard, "No tokens yet: claim a rare vector you discovered below, or buy one from a listing.");
  section("me-listings", body.listings || [], listingItem, "No listings: open one of your tokens and list it for sale.");
  section("me-claimable", body.claimable || [], (c) => card(c), "Nothing to claim right now: rare vectors of your players (and of worlds paying out to your wallet) show up here.");
}

if (root) {
  render().catch((error) => { document.getElementById("wallet-status").textContent = String(error); });
  document.addEventListener("multiverse:wallet", () => render().catch(() => {}));
}
