// Sign-In with Ethereum from the browser: an injected wallet (EIP-1193 `window.ethereum`, personal_sign of the
// coordinator's EIP-4361 message) or, on a devnet only, one of its dev accounts (POST /v1/auth/dev/login).
// The token lives in this tab's sessionStorage; every call then carries it, and the API decides what it shows.

import { ApiError, get, post, setBearer, type Token } from "./api";

export interface Session { address: string; token: string; expires_at: string; via: "wallet" | "dev"; name?: string }
interface Eip1193 { request(args: { method: string; params?: unknown[] }): Promise<any> }

const KEY = "agora.session";
let current: Session | null = null;
const listeners: (() => void)[] = [];
let devAccounts: { name: string; address: string }[] | null | undefined;

export function session(): Session | null {
  return current;
}

export function onChange(fn: () => void): void {
  listeners.push(fn);
}

function set(s: Session | null): void {
  current = s;
  setBearer(s?.token ?? null);
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn();
}

export function restore(): void {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || "null") as Session | null;
    if (s && new Date(s.expires_at).getTime() > Date.now()) {
      current = s;
      setBearer(s.token);
    }
  } catch {
    sessionStorage.removeItem(KEY);
  }
}

export function signOut(): void {
  set(null);
}

export function wallet(): Eip1193 | null {
  const eth = (window as unknown as { ethereum?: Eip1193 }).ethereum;
  return eth && typeof eth.request === "function" ? eth : null;
}

function utf8Hex(text: string): string {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function signInWithWallet(): Promise<Session> {
  const eth = wallet();
  if (!eth) throw new Error("no browser wallet found");
  const [address] = (await eth.request({ method: "eth_requestAccounts" })) as string[];
  if (!address) throw new Error("the wallet shared no account");
  const nonce = await post<{ message: string }>("/v1/auth/nonce", { address });
  // personal_sign takes the message as hex of its UTF-8 bytes; the coordinator checks it EIP-191 style.
  const signature = (await eth.request({ method: "personal_sign", params: [utf8Hex(nonce.message), address] })) as string;
  const tok = await post<Token>("/v1/auth/login", { message: nonce.message, signature });
  const s: Session = { address: tok.address, token: tok.token, expires_at: tok.expires_at, via: "wallet" };
  set(s);
  return s;
}

/** The devnet's accounts, or null where dev sign-in is off (everywhere but a devnet). */
let devRead: Promise<{ name: string; address: string }[] | null> | null = null;

export function listDevAccounts(): Promise<{ name: string; address: string }[] | null> {
  if (devAccounts !== undefined) return Promise.resolve(devAccounts);
  // one read shared by every caller (start-up and an early click on "Sign in")
  devRead ??= get<{ accounts: { name: string; address: string }[] }>("/v1/auth/dev/accounts").then(
    (r) => (devAccounts = r.accounts),
    (e) => {
      devRead = null;
      if (e instanceof ApiError && e.status === 404) return (devAccounts = null);
      throw e;
    },
  );
  return devRead;
}

export async function signInWithDevAccount(name: string): Promise<Session> {
  const tok = await post<Token>("/v1/auth/dev/login", { name });
  const s: Session = { address: tok.address, token: tok.token, expires_at: tok.expires_at, via: "dev", name };
  set(s);
  return s;
}

/** A devnet name for an address ("client", "worker-1") when the devnet told us, else null. */
export function nameOf(address: string | null | undefined): string | null {
  if (!address || !devAccounts) return null;
  const a = address.toLowerCase();
  return devAccounts.find((d) => d.address === a)?.name ?? null;
}
