// The gallery's browser wallet: finds the player's wallet (EIP-6963, else window.ethereum), signs in with EIP-4361,
// and drives claims, listings, purchases, cancellations and downloads from the page. Transactions and signatures
// are made by the player's own wallet; the player never handles an API key or a key file.
//
// window.multiverseWallet = {address, token, chain, fetch(path, init), connect(), signIn(), signOut(), claim(),
//   list(), buy(), cancel(), download()}; a "multiverse:wallet" event (detail: {address, action}) fires on change.
//
// Page hooks (event delegation on document, so pages need no script of their own):
//   [data-action=connect]                        connect and sign in
//   [data-action=claim] data-snapshot data-kind data-index        POST /api/claims
//   form[data-action=list] data-token-id, input name=price (ether), optional input name=expiry (unix s)
//                                                 approve the exchange once, prepare, sign EIP-712, POST /api/listings
//   [data-action=buy] data-listing='<listing JSON>'               the Exchange's buy, value = price
//   [data-action=cancel] data-listing='<listing JSON>'            the Exchange's cancel
//   [data-action=download] data-token-id                          GET /api/tokens/{id}/matrix -> <id>.bin
//   [data-owner=0x...]                            hidden unless the signed-in wallet is that address
//   #wallet-status                                progress and errors (created at the end of <body> if absent)
// After a claim, listing, purchase or cancellation the page reloads (to show the new state) unless the element
// carries data-reload="false"; the outcome is shown again after the reload.

import { getAddress, parseEther } from 'viem';
import { createSiweMessage } from 'viem/siwe';
import { call, callJson, parseJson, toJson } from './api.js';
import * as chain from './chain.js';
import { findProvider } from './discover.js';
import { clearSession, loadSession, saveSession, setFlash, takeFlash } from './session.js';

const PREFERRED_KEY = 'multiverse.wallet.rdns';

const state = { provider: null, info: null, address: '', session: loadSession(), chain: null };

function emit(action) {
  document.dispatchEvent(new CustomEvent('multiverse:wallet', { detail: { address: wallet.address, action } }));
}

function statusBox() {
  let box = document.getElementById('wallet-status');
  if (!box) {
    box = document.createElement('div');
    box.id = 'wallet-status';
    box.setAttribute('role', 'status');
    box.setAttribute('aria-live', 'polite');
    document.body.appendChild(box);
  }
  return box;
}

/** Show `text` in #wallet-status; kind is "progress", "ok" or "error" (data-state, for styling and tests). */
function status(text, kind = 'progress') {
  const box = statusBox();
  box.textContent = text;
  box.dataset.state = kind;
}

function short(address) {
  return address ? `${address.slice(0, 6)}…${address.slice(-4)}` : '';
}

/** Reflect the signed-in wallet on the page: connect buttons, owner-only elements, <html data-wallet>. */
function render() {
  const address = wallet.address;
  document.documentElement.dataset.wallet = address || '';
  for (const button of document.querySelectorAll('[data-action=connect]')) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = address ? `Signed in: ${short(address)}` : button.dataset.label;
    button.toggleAttribute('data-connected', Boolean(address));
    button.title = address || '';
  }
  for (const el of document.querySelectorAll('[data-owner]')) {
    el.hidden = !(address && el.dataset.owner.toLowerCase() === address.toLowerCase());
  }
}

async function chainInfo() {
  if (!state.chain) state.chain = await callJson('/api/chain');
  return state.chain;
}

function onAccountsChanged(accounts) {
  const now = accounts && accounts[0] ? getAddress(accounts[0]) : '';
  state.address = now;
  if (state.session && (!now || state.session.address.toLowerCase() !== now.toLowerCase())) {
    clearSession();
    state.session = null;
  }
  render();
  emit('accounts');
}

/** Find the wallet and ask it for an account (eth_requestAccounts). Returns the checksummed address. */
async function connect() {
  if (!state.provider) {
    const found = await findProvider(localStorage.getItem(PREFERRED_KEY) || '');
    if (!found) {
      throw new Error('No wallet found in this browser: install an Ethereum wallet extension, then reload the page');
    }
    state.provider = found.provider;
    state.info = found.info;
    if (found.info.rdns) localStorage.setItem(PREFERRED_KEY, found.info.rdns);
    if (typeof found.provider.on === 'function') found.provider.on('accountsChanged', onAccountsChanged);
  }
  const accounts = await state.provider.request({ method: 'eth_requestAccounts' });
  if (!accounts || !accounts[0]) throw new Error('the wallet shared no account: unlock it and try again');
  state.address = getAddress(accounts[0]);
  if (state.session && state.session.address.toLowerCase() !== state.address.toLowerCase()) {
    clearSession();
    state.session = null;
  }
  render();
  emit('connect');
  return state.address;
}

/** Sign in with EIP-4361: a nonce from the gateway, the message signed by the wallet (personal_sign), a session. */
async function signIn() {
  const address = await connect();
  const info = await chainInfo();
  status('Checking your wallet is on the market’s chain…');
  await chain.ensureChain(state.provider, info);
  const nonce = await callJson('/api/signin/nonce', { method: 'POST' });
  const message = createSiweMessage({
    address, chainId: Number(nonce.chain_id), domain: nonce.domain, nonce: nonce.nonce, uri: nonce.uri,
    version: '1', statement: nonce.statement || undefined, issuedAt: new Date(),
  });
  status('Sign the sign-in message in your wallet…');
  const signature = await chain.sign(chain.client(state.provider, info, address), message);
  const session = await callJson('/api/signin', { method: 'POST', body: { message, signature } });
  saveSession(session);
  state.session = loadSession();
  render();
  emit('signin');
  status(`Signed in as ${session.address}`, 'ok');
  return state.session;
}

function signOut() {
  clearSession();
  state.session = null;
  render();
  emit('signout');
}

/** The session, signing in first when there is none (or it belongs to another account). */
async function session() {
  if (state.session && (!state.address || state.session.address.toLowerCase() === state.address.toLowerCase())) {
    return state.session;
  }
  return signIn();
}

/** A connected wallet on the market's chain and viem clients for it. */
async function ready() {
  const s = await session();
  if (!state.provider) await connect();
  const info = await chainInfo();
  await chain.ensureChain(state.provider, info);
  return { info, c: chain.client(state.provider, info, s.address), address: s.address };
}

/**
 * A call as the signed-in wallet. A session the gateway no longer knows (401: expired, or the service restarted)
 * is dropped and the wallet signs in again, once.
 */
async function authed(path, init = {}) {
  const s = await session();
  try {
    return await call(path, init, s.token);
  } catch (error) {
    if (error.status !== 401) throw error;
    clearSession();
    state.session = null;
    return call(path, init, (await signIn()).token);
  }
}

async function authedJson(path, init = {}) {
  return parseJson(await (await authed(path, init)).text());
}

async function claim({ snapshot, kind, index }) {
  status('Claiming…');
  const token = await authedJson('/api/claims', { method: 'POST', body: { snapshot, kind, index: Number(index) } });
  emit('claim');
  return token;
}

async function list({ tokenId, priceEther, expiry }) {
  const wei = parseEther(String(priceEther).trim());
  if (wei <= 0n) throw new Error('price: give a price above 0 in ether, e.g. 0.5');
  const { info, c, address } = await ready();
  status('Letting the exchange move your token (approve in your wallet)…');
  await chain.approveExchange(c, info, address);
  const body = { token_id: tokenId, price_wei: wei.toString() };
  if (expiry) body.expiry = Number(expiry);
  const prepared = await authedJson('/api/listings/prepare', { method: 'POST', body });
  status('Sign the listing in your wallet…');
  const signature = await state.provider.request({
    method: 'eth_signTypedData_v4', params: [address, toJson(prepared.typed_data)],
  });
  const listing = await authedJson('/api/listings', { method: 'POST', body: { listing: prepared.listing, signature } });
  emit('list');
  return listing;
}

async function buy(listing) {
  const { info, c } = await ready();
  status('Confirm the purchase in your wallet…');
  const receipt = await chain.buy(c, info, typeof listing === 'string' ? parseJson(listing) : listing);
  emit('buy');
  return receipt;
}

async function cancel(listing) {
  const { info, c } = await ready();
  status('Confirm the cancellation in your wallet…');
  const receipt = await chain.cancel(c, info, typeof listing === 'string' ? parseJson(listing) : listing);
  emit('cancel');
  return receipt;
}

/** Download a token's matrix (its owner only) and save it as <token id>.bin. */
async function download(tokenId) {
  status('Downloading…');
  const response = await authed(`/api/tokens/${encodeURIComponent(tokenId)}/matrix`);
  const blob = await response.blob();
  const name = `${response.headers.get('X-Token-Id') || tokenId}.bin`;
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { name, size: blob.size };
}

const wallet = {
  get address() { return (state.session && state.session.address) || state.address; },
  get token() { return state.session ? state.session.token : ''; },
  get chain() { return state.chain; },
  fetch(path, init = {}) { return call(path, init, this.token); },
  connect, signIn, signOut, claim, list, buy, cancel, download,
};

function messageOf(error) {
  if (!error) return 'something went wrong';
  if (error.code === 4001 || error.name === 'UserRejectedRequestError') return 'You declined in your wallet.';
  return error.shortMessage || error.message || String(error);
}

// Each hook: what it does with its element, and the status line when it succeeded.
const HOOKS = {
  connect: async () => `Signed in as ${(await signIn()).address}`,
  claim: async (el) => {
    const token = await claim({ snapshot: el.dataset.snapshot, kind: el.dataset.kind, index: el.dataset.index });
    return `Claimed: token ${token.token_id || ''}`.trim();
  },
  list: async (form) => {
    const price = form.elements.namedItem('price');
    const expiry = form.elements.namedItem('expiry');
    const listing = await list({ tokenId: form.dataset.tokenId, priceEther: price ? price.value : '',
      expiry: expiry && expiry.value ? expiry.value : undefined });
    return `Listed for ${price.value} ETH${listing && listing.status ? ` (${listing.status})` : ''}`;
  },
  buy: async (el) => { await buy(el.dataset.listing); return 'Bought: the token is yours'; },
  cancel: async (el) => { await cancel(el.dataset.listing); return 'Listing cancelled'; },
  download: async (el) => { const got = await download(el.dataset.tokenId); return `Saved ${got.name} (${got.size} bytes)`; },
};
const RELOADING = new Set(['claim', 'list', 'buy', 'cancel']);

async function run(action, el) {
  if (el.dataset.busy) return;
  el.dataset.busy = '1';
  try {
    const done = await HOOKS[action](el);
    if (RELOADING.has(action) && el.dataset.reload !== 'false') {
      setFlash(done);
      status(done, 'ok');
      location.reload();
    } else {
      status(done, 'ok');
    }
  } catch (error) {
    status(messageOf(error), 'error');
  } finally {
    delete el.dataset.busy;
  }
}

document.addEventListener('click', (event) => {
  const el = event.target.closest('[data-action]');
  if (!el || el.tagName === 'FORM' || !(el.dataset.action in HOOKS)) return;
  event.preventDefault();
  run(el.dataset.action, el);
});

document.addEventListener('submit', (event) => {
  const form = event.target.closest('form[data-action]');
  if (!form || !(form.dataset.action in HOOKS)) return;
  event.preventDefault();
  run(form.dataset.action, form);
});

function start() {
  render();
  const flash = takeFlash();
  if (flash) status(flash, 'ok');
}

window.multiverseWallet = wallet;
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
