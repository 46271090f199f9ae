// Finding the player's wallet: EIP-6963 first (every installed wallet announces itself, so two wallets never fight
// over window.ethereum), then the legacy EIP-1193 window.ethereum. Nothing here talks to the network.

const announced = new Map(); // uuid -> {info, provider}, in announcement order

function onAnnounce(event) {
  const detail = event.detail;
  if (!detail || !detail.info || !detail.provider || typeof detail.provider.request !== 'function') return;
  if (!announced.has(detail.info.uuid)) announced.set(detail.info.uuid, detail);
}

window.addEventListener('eip6963:announceProvider', onAnnounce);

/** Ask every wallet to announce itself (EIP-6963); wallets answer synchronously or soon after. */
export function requestProviders() {
  window.dispatchEvent(new Event('eip6963:requestProvider'));
}

/** Wallets announced so far: [{info: {uuid, name, icon, rdns}, provider}]. */
export function providers() {
  return [...announced.values()];
}

/**
 * The EIP-1193 provider to use: the announced wallet whose rdns is `preferred` (the one used last time), else the
 * first announced, else window.ethereum. Waits up to `waitMs` for announcements. Returns {info, provider} or null.
 */
export async function findProvider(preferred = '', waitMs = 300) {
  requestProviders();
  const deadline = Date.now() + waitMs;
  while (announced.size === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const all = providers();
  const chosen = all.find((p) => preferred && p.info.rdns === preferred) || all[0];
  if (chosen) return chosen;
  if (window.ethereum && typeof window.ethereum.request === 'function') {
    return { info: { uuid: 'window.ethereum', name: 'Browser wallet', icon: '', rdns: '' }, provider: window.ethereum };
  }
  return null;
}
