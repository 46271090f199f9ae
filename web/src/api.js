// The gateway's JSON API as the wallet uses it: same-origin fetches, exact integers (token ids, wei and EIP-712
// uint256 fields do not fit a JS number), and the gateway's error body turned into an Error with its message.

/**
 * JSON.parse that keeps integers beyond 2^53 exact, as BigInt (JSON.parse source text access: the reviver sees the
 * literal). Safe integers and everything else parse as usual.
 */
export function parseJson(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source)) {
      return BigInt(context.source);
    }
    return value;
  });
}

/** JSON.stringify with BigInt written as a decimal string (how wallets take uint256 values in typed data). */
export function toJson(value) {
  return JSON.stringify(value, (key, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** An API call failed: `status` (HTTP), `code`, `field` and `fix` from the gateway's error body when it sent one. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the gateway answered HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = error.code || '';
    this.field = error.field || '';
    this.fix = error.fix || '';
  }
}

/** fetch(path, init) with `token` as the bearer; JSON bodies go in as objects. Returns the Response (ok or thrown). */
export async function call(path, init = {}, token = '') {
  const headers = new Headers(init.headers || {});
  if (token) headers.set('Authorization', `Bearer ${token}`);
  let body = init.body;
  if (body !== undefined && body !== null && typeof body === 'object' && !(body instanceof Blob) &&
      !(body instanceof FormData) && !(body instanceof ArrayBuffer) && !ArrayBuffer.isView(body)) {
    body = toJson(body);
    headers.set('Content-Type', 'application/json');
  }
  const response = await fetch(path, { ...init, headers, body, credentials: 'same-origin' });
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = parseJson(await response.text());
    } catch {
      // not JSON: the status alone says what happened
    }
    throw new ApiError(response.status, parsed);
  }
  return response;
}

/** call() and parse the JSON answer. */
export async function callJson(path, init = {}, token = '') {
  const response = await call(path, init, token);
  return parseJson(await response.text());
}
