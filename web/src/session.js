// The wallet session the gateway issued at sign-in, kept for this tab only (sessionStorage, never a cookie: the
// gateway reads the bearer header, so no other site can make a signed-in browser act), and a one-shot status line
// that survives the reload after an action.

const SESSION_KEY = 'multiverse.session';
const FLASH_KEY = 'multiverse.flash';

/** The stored session {token, address, expires_at} while unexpired, else null (an expired one is dropped). */
export function loadSession() {
  let session = null;
  try {
    session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    session = null;
  }
  if (!session || typeof session.token !== 'string' || typeof session.address !== 'string') return null;
  if (Number(session.expires_at) * 1000 <= Date.now()) {
    sessionStorage.removeItem(SESSION_KEY);
    return null;
  }
  return session;
}

export function saveSession(session) {
  const { token, address, expires_at } = session;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token, address, expires_at: Number(expires_at) }));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** Keep `text` to show once on the next page load. */
export function setFlash(text) {
  sessionStorage.setItem(FLASH_KEY, text);
}

/** The kept status line, removed as it is read. */
export function takeFlash() {
  const text = sessionStorage.getItem(FLASH_KEY) || '';
  sessionStorage.removeItem(FLASH_KEY);
  return text;
}
