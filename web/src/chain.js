// Transactions and reads through the player's own wallet: viem clients over the wallet's EIP-1193 provider
// (custom transport), so every call goes where the wallet points and every transaction is signed by the wallet.
// The gateway's GET /api/chain says which chain and contracts the market uses. One viem client with the actions it
// needs imported one by one (createWalletClient/createPublicClient would bundle every action: 3x the bytes).

import { createClient, custom, defineChain, getAddress, numberToHex } from 'viem';
import { readContract, signMessage, simulateContract, waitForTransactionReceipt, writeContract } from 'viem/actions';
import { EXCHANGE_ABI, TOKEN_ABI } from 'multiverse:abi';

const POLL_MS = 250; // receipts on a dev chain land in well under a second; viem's default is 4 s

/** viem's Chain for the market's chain as GET /api/chain describes it. */
export function marketChain(info) {
  return defineChain({
    id: Number(info.chain_id),
    name: `Multiverse chain ${info.chain_id}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: info.rpc_url ? [info.rpc_url] : [] } },
  });
}

/**
 * Make the wallet use the market's chain: nothing when it already does, else wallet_switchEthereumChain, and when
 * the wallet does not know the chain (4902) wallet_addEthereumChain with the gateway's RPC URL.
 */
export async function ensureChain(provider, info) {
  const want = Number(info.chain_id);
  const have = Number(await provider.request({ method: 'eth_chainId' }));
  if (have === want) return;
  const chainId = numberToHex(want);
  try {
    await provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId }] });
  } catch (error) {
    if (error && error.code === 4902 && info.rpc_url) {
      await provider.request({
        method: 'wallet_addEthereumChain',
        params: [{ chainId, chainName: `Multiverse chain ${want}`, rpcUrls: [info.rpc_url],
          nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } }],
      });
    } else {
      throw new Error(`switch your wallet to chain ${want} (it is on chain ${have}): ${error && error.message}`);
    }
  }
  const now = Number(await provider.request({ method: 'eth_chainId' }));
  if (now !== want) throw new Error(`your wallet is on chain ${now}; the market is on chain ${want}: switch networks`);
}

/** A viem client for `address` (a JSON-RPC account: the wallet signs) over `provider`, on the market's chain. */
export function client(provider, info, address) {
  return createClient({
    account: getAddress(address), chain: marketChain(info), transport: custom(provider), pollingInterval: POLL_MS,
  });
}

/** personal_sign of `message` by the client's account. */
export function sign(c, message) {
  return signMessage(c, { message });
}

/**
 * Simulate (so a revert comes back with the contract's error name, before anything is signed), send through the
 * wallet, and wait for the receipt. Returns the receipt; throws when the transaction reverted.
 */
export async function transact(c, call) {
  const { request } = await simulateContract(c, call);
  const hash = await writeContract(c, request);
  const receipt = await waitForTransactionReceipt(c, { hash, pollingInterval: POLL_MS });
  if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`);
  return receipt;
}

/** Let the exchange move the owner's tokens (setApprovalForAll) unless it already may. */
export async function approveExchange(c, info, owner) {
  const approved = await readContract(c, {
    address: getAddress(info.token), abi: TOKEN_ABI, functionName: 'isApprovedForAll',
    args: [getAddress(owner), getAddress(info.exchange)],
  });
  if (approved) return null;
  return transact(c, {
    address: getAddress(info.token), abi: TOKEN_ABI, functionName: 'setApprovalForAll',
    args: [getAddress(info.exchange), true],
  });
}

const FIELDS = [
  // [Solidity name, snake_case name the gateway may use, kind]
  ['seller', 'seller', 'address'],
  ['token', 'token', 'address'],
  ['tokenId', 'token_id', 'uint'],
  ['price', 'price', 'uint'],
  ['feeRecipient', 'fee_recipient', 'address'],
  ['fee', 'fee', 'uint'],
  ['counter', 'counter', 'uint'],
  ['salt', 'salt', 'uint'],
  ['expiry', 'expiry', 'uint'],
  ['tokenNonce', 'token_nonce', 'uint'],
];
const ZERO = '0x0000000000000000000000000000000000000000';

/** A uint from JSON: a number, a BigInt, a decimal or 0x string; a token id may be 64 hex digits without 0x. */
function uint(name, value) {
  if (name === 'tokenId' && typeof value === 'string' && /^[0-9a-fA-F]{64}$/.test(value)) return BigInt(`0x${value}`);
  return BigInt(value);
}

/** The Exchange's Listing struct from the gateway's listing JSON (camelCase or snake_case; ints as numbers,
 * decimal or 0x strings). Throws naming the field that is missing. */
export function listingStruct(listing) {
  const struct = {};
  for (const [name, snake, kind] of FIELDS) {
    let value = listing[name] ?? listing[snake];
    if (value === undefined || value === null) {
      if (name === 'feeRecipient') value = ZERO;
      else if (name === 'fee') value = 0;
      else throw new Error(`the listing has no ${name}: reload the page`);
    }
    struct[name] = kind === 'address' ? getAddress(value) : uint(name, value);
  }
  return struct;
}

/** Buy a listing: the Exchange's buy(listing, signature, maxPrice) with value = price. */
export function buy(c, info, listing) {
  const struct = listingStruct(listing);
  if (!listing.signature) throw new Error('the listing carries no signature: reload the page');
  return transact(c, {
    address: getAddress(info.exchange), abi: EXCHANGE_ABI, functionName: 'buy',
    args: [struct, listing.signature, struct.price], value: struct.price,
  });
}

/** Cancel a listing (only its seller may): the Exchange's cancel([listing]). */
export function cancel(c, info, listing) {
  return transact(c, {
    address: getAddress(info.exchange), abi: EXCHANGE_ABI, functionName: 'cancel',
    args: [[listingStruct(listing)]],
  });
}
