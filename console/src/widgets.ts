// Small pieces every page uses: status pills, address and hash chips, progress bars, cards, key–value lists.

import { h, replace, type Child } from "./dom";
import { short, statusLabel } from "./format";
import { nameOf, session } from "./session";

export function pill(status: string, extra = ""): HTMLElement {
  return h("span", { class: `pill s-${status.replace(/[^a-z_]/g, "")} ${extra}`, "data-status": status }, statusLabel(status));
}

export function addr(address: string | null | undefined, opts: { link?: boolean } = {}): HTMLElement {
  if (!address) return h("span", { class: "muted" }, "—");
  const name = nameOf(address);
  const me = session()?.address === address.toLowerCase();
  const label = h("span", { class: "addr", title: address, "data-addr": address.toLowerCase() }, name ? [h("b", null, name), " ", short(address)] : short(address));
  const body = [label, me ? h("span", { class: "you" }, "you") : null];
  return opts.link ? h("a", { href: `#/providers?focus=${address}`, class: "addr-link" }, body) : h("span", null, body);
}

/** Names the address chips already drawn under `root` that have none yet (the devnet's names arrive after the
 * first draw: labelling in place keeps the page and its reads as they are, where redrawing would start it over). */
export function labelAddresses(root: ParentNode): void {
  root.querySelectorAll<HTMLElement>(".addr[data-addr]").forEach((el) => {
    const address = el.dataset.addr as string;
    const name = nameOf(address);
    if (name && !el.querySelector("b")) replace(el, h("b", null, name), " ", short(address));
  });
}

/** A transaction hash, linked to the console's view of it (the coordinator reads the receipt: no explorer needed). */
export function tx(hash: string | null | undefined): HTMLElement {
  if (!hash) return h("span", { class: "muted" }, "—");
  return h("a", { class: "hash tx", href: `#/tx/${hash}`, title: hash, "data-tx": hash }, short(hash, 5));
}

export function hash(value: string | null | undefined, keep = 6): HTMLElement {
  return value ? h("code", { class: "hash", title: value }, short(value, keep)) : h("span", { class: "muted" }, "—");
}

export function bar(fraction: number, status = "", label?: string): HTMLElement {
  const pct = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0)) * 100;
  return h("div", { class: `bar s-${status}`, role: "progressbar", "aria-valuenow": pct.toFixed(0) },
    h("div", { class: "bar-fill", style: `width:${pct.toFixed(1)}%` }), label ? h("span", { class: "bar-label" }, label) : null);
}

export function card(title: Child, body: Child, attrs: Record<string, unknown> = {}): HTMLElement {
  return h("section", { ...attrs, class: `card ${attrs.class ?? ""}` }, h("h2", { class: "card-title" }, title), body);
}

export function kv(rows: [string, Child][]): HTMLElement {
  return h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

export function empty(text: string): HTMLElement {
  return h("div", { class: "empty" }, text);
}
