// Shared by the page scripts: a vector card (the same markup as templates/macros.html's card) built with DOM
// calls, never innerHTML, so nothing a world name holds is ever parsed as markup.

const TIER = /^[a-z]+$/;

export function topShare(percentile) {
  const share = Math.max(100 - Number(percentile || 0), 0);
  if (share < 0.01) return "<0.01%";
  return (share >= 10 ? share.toFixed(0) : share >= 1 ? share.toFixed(1) : share.toFixed(2)) + "%";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child);
  return node;
}

export function badge(tier) {
  const name = String(tier || "");
  return el("span", { class: "badge tier-" + (TIER.test(name) ? name : "other") }, name);
}

/** A card linking to a vector's page: picture, tier badge, "top x%", world and index. */
export function card(c, extra = "") {
  const link = el("a", { class: "card", href: String(c.url || "#") });
  const img = el("img", { src: String(c.picture || ""), alt: `${c.kind} ${c.index} of world ${c.world}`,
                          loading: "lazy", decoding: "async" });
  const meta = el("span", { class: "card-meta" }, badge(c.tier), el("span", { class: "pct" }, "top " + topShare(c.percentile)));
  const sub = el("span", { class: "card-sub" }, `${c.world} · ${c.kind} ${c.index}` + (extra ? ` · ${extra}` : ""));
  link.append(img, meta, sub);
  if (c.token_id) link.append(el("span", { class: "minted", title: "minted as a token" }, "token"));
  return link;
}

/** Wei (a decimal string) as ether, exact: "1500000000000000000" -> "1.5". */
export function ether(wei) {
  const digits = String(wei ?? "0").replace(/^0+(?=\d)/, "");
  if (!/^\d+$/.test(digits)) return String(wei);
  const whole = digits.length > 18 ? digits.slice(0, -18) : "0";
  const frac = digits.padStart(18, "0").slice(-18).replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole;
}

export { el };
