// One transaction as the chain tells it (GET /v1/market/tx/{hash}): sender, target, status, gas and the market
// events it emitted — the devnet has no block explorer, so the console's tx links land here.

import { get } from "../api";
import { h, replace } from "../dom";
import { eth } from "../format";
import type { PageContext } from "../live";
import { addr, card, hash, kv, pill } from "../widgets";

interface TxView {
  hash: string; block_number: number | null; sender: string | null; to: string | null; value_wei: string;
  status: number | null; gas_used: number | null; events: { contract: string; name: string; args: Record<string, unknown> }[];
}

export function renderTx(root: HTMLElement, ctx: PageContext, params: { id: string }): void {
  replace(root, h("div", { class: "page-head" }, h("h1", null, "Transaction"), hash(params.id, 10)));
  ctx.every(5000, async () => {
    const t = await get<TxView>(`/v1/market/tx/${params.id}`, ctx.signal);
    replace(root,
      h("div", { class: "page-head" }, h("h1", null, "Transaction"), pill(t.status === 1 ? "success" : t.status === 0 ? "reverted" : "pending", "big")),
      h("div", { class: "grid tx-grid" },
        card("Details", kv([
          ["hash", h("code", { class: "hash" }, t.hash)], ["block", t.block_number === null ? "pending" : String(t.block_number)],
          ["from", addr(t.sender)], ["to", addr(t.to)], ["value", eth(t.value_wei)], ["gas used", t.gas_used === null ? "—" : t.gas_used.toLocaleString("en")],
        ])),
        card(`Events (${t.events.length})`, t.events.length ? h("ol", { class: "events" }, t.events.map((e) => h("li", null,
          h("div", null, h("span", { class: "muted" }, e.contract + "."), h("b", null, e.name)),
          h("pre", { class: "args" }, JSON.stringify(e.args, null, 2))))) : h("p", { class: "muted" }, "No market events."))));
  });
}
