// The console's only way to data: the coordinator's public /v1 API, as the CLI uses it. GETs revalidate with
// the ETag of the last answer (If-None-Match), so polling an unchanged page costs a 304 and no body.

export interface Job {
  id: number; status: string; client: string; provider: string | null; spec_hash: string; price_wei: string;
  collateral_wei: string; deadline_at: string | null; num_steps: number; checkpoint_every: number; ops_per_step: number;
  num_params: number; chain_job_id: number | null; accept_by: string | null; trace_root: string | null;
  final_model_hash: string | null; wait_reason: string | null; created_at: string; updated_at: string;
  [extra: string]: unknown;
}
export interface Page<T> { items: T[]; next_cursor: string | null }
export interface ProgressPoint { step: number; loss: number; created_at?: string; [extra: string]: unknown }
export interface Progress { job_id: number; num_steps: number; latest_step: number | null; latest_loss: number | null; points: ProgressPoint[]; [extra: string]: unknown }
export interface JobEvent { id: number; source: string; kind: string; message: string; data: Record<string, any>; created_at: string }
export interface Result {
  job_id: number; status: string; trace_root: string | null; final_model_hash: string | null; model_artifact: string | null;
  checkpoint_artifact: string | null; evaluation?: { step: number; loss: number | null; accuracy: number | null } | null;
}
export interface Move { kind: string; mover: string | null; tx_hash: string; block_number: number; args: Record<string, any> }
export interface Dispute {
  id: number; chain_job_id: number; job_id: number | null; defender: string | null; challenger: string | null;
  phase: string; level: number; lo: number | null; hi: number | null; deadline_at: string | null; outcome: string | null;
  // the contract's chess clocks (seconds left for the whole game), the round's start, who owes a move
  clock_defender_s?: number | null; clock_challenger_s?: number | null; round_started_at?: string | null;
  waiting_on?: "both" | "defender" | "challenger" | "referee" | null;
  moves?: Move[]; [extra: string]: unknown;
}
export interface Provider {
  address: string; free_stake_wei: string; locked_stake_wei: string; unbonding_wei: string; slashed_wei: string;
  devices: string[]; max_params: number; queue_depth: number; repops_version: string | null;
  last_heartbeat_at: string | null; last_assigned_at: string | null; alive: boolean;
}
export interface ProviderRecord { address: string; jobs_done: number; jobs_failed: number; jobs_active: number; disputes_won: number; disputes_lost: number }
/** GET /v1/jobs/{id}/overview: a job page's five first reads in one answer. */
export interface Overview { job: Job; progress: Progress; events: Page<JobEvent>; disputes: Dispute[]; result: Result }
export interface Market { chain_id: number; confirmations: number; contracts: Record<string, string>; params: Record<string, any> }
export interface Token { token: string; address: string; expires_at: string }

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

let bearer: string | null = null;
export function setBearer(token: string | null): void {
  bearer = token;
}

const cache = new Map<string, { etag: string; body: unknown }>();

async function fail(r: Response): Promise<never> {
  let code = "http_" + r.status;
  let message = `${r.status} ${r.statusText}`;
  try {
    const body = await r.json();
    if (body?.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // a body that is not our error shape: keep the status line
  }
  throw new ApiError(r.status, code, message);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return bearer ? { ...extra, Authorization: `Bearer ${bearer}` } : extra;
}

const EARLY_FOR_MS = 10_000; // the first page takes its early reads at once; none is stale by then

declare global {
  interface Window { __agoraEarly?: { token: string | null; reads: Record<string, Promise<Response>> } }
}

/** A read that index.html's inline script started while this script was still loading (a page's first reads,
 * by exact path), taken once; null when there is none or it was made for another sign-in. */
function early(path: string): Promise<Response | null> | null {
  const started = window.__agoraEarly;
  const read = started?.reads[path];
  if (!started || !read) return null;
  delete started.reads[path]; // asked for: what is left was started for nothing (the e2e test looks)
  if (performance.now() > EARLY_FOR_MS || started.token !== bearer) return null; // a later page reads afresh
  return read.catch(() => null); // a failed early read is simply made again
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  const hit = cache.get(path);
  const r = (hit ? null : await early(path))
    ?? await fetch(path, { headers: headers(hit ? { "If-None-Match": hit.etag } : {}), signal, cache: "no-store" });
  if (r.status === 304 && hit) return hit.body as T;
  if (!r.ok) return fail(r);
  const body = (await r.json()) as T;
  const etag = r.headers.get("etag");
  if (etag) cache.set(path, { etag, body });
  if (cache.size > 500) cache.delete(cache.keys().next().value as string);
  return body;
}

let marketRead: Promise<Market> | null = null;

/** The deployment (chain, confirmations, contracts, clocks): fixed while the console is open, so one read serves
 * the network badge and every page (a failed read is tried again by the next caller). */
export function market(): Promise<Market> {
  marketRead ??= get<Market>("/v1/market").catch((e) => {
    marketRead = null;
    throw e;
  });
  return marketRead;
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  const r = await fetch(path, { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body) });
  if (!r.ok) return fail(r);
  return (await r.json()) as T;
}

/** Fetches bytes with the signed-in token and hands them to the browser as a file. */
export async function download(path: string, filename: string): Promise<number> {
  const r = await fetch(path, { headers: headers() });
  if (!r.ok) return fail(r);
  const blob = await r.blob();
  const named = /filename="?([^";]+)"?/.exec(r.headers.get("content-disposition") || "");
  if (named) filename = named[1];
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return blob.size;
}

export function query(params: Record<string, string | number | null | undefined | (string | number)[]>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}
