// How amounts, addresses, hashes and times read in the console.

const ETH = 10n ** 18n;

/** Wei (decimal string, as the API sends it) as ETH with up to `digits` decimals, trailing zeros cut. */
export function eth(wei: string | number | bigint | null | undefined, digits = 6): string {
  if (wei === null || wei === undefined || wei === "") return "—";
  let v: bigint;
  try {
    v = BigInt(wei);
  } catch {
    return String(wei);
  }
  const neg = v < 0n;
  if (neg) v = -v;
  const whole = v / ETH;
  const frac = (v % ETH).toString().padStart(18, "0").slice(0, digits).replace(/0+$/, "");
  return `${neg ? "−" : ""}${whole}${frac ? "." + frac : ""} ETH`;
}

export function short(hex: string | null | undefined, keep = 4): string {
  if (!hex) return "—";
  return hex.length > 2 + keep * 2 + 1 ? `${hex.slice(0, 2 + keep)}…${hex.slice(-keep)}` : hex;
}

export function compact(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "B";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return String(n);
}

export function loss(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return x >= 100 ? x.toFixed(1) : x.toPrecision(4);
}

function toDate(t: string | Date | null | undefined): Date | null {
  if (!t) return null;
  const d = t instanceof Date ? t : new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : t + "Z");
  return Number.isNaN(d.getTime()) ? null : d;
}

export function ago(t: string | null | undefined, now = Date.now()): string {
  const d = toDate(t);
  if (!d) return "—";
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 0) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** Seconds until `t` (negative when past), or null. */
export function secondsUntil(t: string | null | undefined, now = Date.now()): number | null {
  const d = toDate(t);
  return d ? Math.round((d.getTime() - now) / 1000) : null;
}

export function duration(s: number): string {
  const a = Math.abs(s);
  if (a < 60) return `${a}s`;
  if (a < 3600) return `${Math.floor(a / 60)}m ${a % 60}s`;
  return `${Math.floor(a / 3600)}h ${Math.floor((a % 3600) / 60)}m`;
}

export function clock(t: string | null | undefined): string {
  const d = toDate(t);
  return d ? d.toISOString().slice(11, 19) + " UTC" : "—";
}

export function datetime(t: string | null | undefined): string {
  const d = toDate(t);
  return d ? d.toISOString().replace("T", " ").slice(0, 19) + " UTC" : "—";
}

export const STATUSES = [
  "awaiting_funding", "open", "assigned", "running", "submitted", "disputed", "finalized", "failed", "cancelled", "expired",
];

export function statusLabel(s: string): string {
  return s.replace(/_/g, " ");
}
