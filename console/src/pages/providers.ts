// Providers: stake (free / locked / unbonding / slashed, from StakeManager events), capabilities and liveness
// (from signed heartbeats), and each one's record (jobs done, disputes won and lost).

import { get, query, type Page, type Provider, type ProviderRecord } from "../api";
import { h, replace } from "../dom";
import { ago, compact, eth } from "../format";
import type { PageContext } from "../live";
import { addr, empty } from "../widgets";

function wei(s: string | null | undefined): bigint {
  try {
    return BigInt(s || "0");
  } catch {
    return 0n;
  }
}

function stakeBar(p: Provider): HTMLElement {
  const parts: [string, bigint][] = [["free", wei(p.free_stake_wei)], ["locked", wei(p.locked_stake_wei)], ["unbonding", wei(p.unbonding_wei)], ["slashed", wei(p.slashed_wei)]];
  const total = parts.reduce((a, [, v]) => a + v, 0n) || 1n;
  return h("div", { class: "stake" },
    h("div", { class: "stake-bar" }, parts.map(([k, v]) => v > 0n ? h("span", { class: `seg seg-${k}`, style: `width:${Number((v * 1000n) / total) / 10}%`, title: `${k} ${eth(v)}` }) : null)),
    h("div", { class: "stake-legend" }, parts.map(([k, v]) => h("span", { class: `lg lg-${k}`, "data-stake": k }, h("i", null), `${k} `, h("b", null, eth(v, 4))))));
}

export function renderProviders(root: HTMLElement, ctx: PageContext, params: { query: URLSearchParams }): void {
  const focus = params.query.get("focus")?.toLowerCase() ?? null;
  const table = h("div", { class: "table-wrap" });
  const summary = h("span", { class: "muted" });
  replace(root, h("div", { class: "page-head" }, h("h1", null, "Providers"), summary), table);
  ctx.every(4000, async () => {
    // the records and the providers' pages are independent reads: side by side, not one after the other
    const recordsRead = get<{ items: ProviderRecord[] }>("/v1/market/records", ctx.signal);
    recordsRead.catch(() => null); // reported below, after the providers' own read
    const providers: Provider[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: Page<Provider> = await get<Page<Provider>>("/v1/providers" + query({ cursor, limit: 200 }), ctx.signal);
      providers.push(...page.items);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    const records = new Map((await recordsRead).items.map((r) => [r.address, r]));
    const alive = providers.filter((p) => p.alive).length;
    summary.textContent = `${providers.length} known · ${alive} alive`;
    if (!providers.length) {
      replace(table, empty("No providers yet. Stake with `agora provider stake 1ether`, then `agora worker start`."));
      return;
    }
    replace(table, h("table", { class: "table providers" },
      h("thead", null, h("tr", null, ["Provider", "Alive", "Stake", "Capabilities", "Jobs done", "Disputes won / lost", "Heartbeat"].map((t) => h("th", null, t)))),
      h("tbody", null, providers.map((p) => {
        const r = records.get(p.address);
        return h("tr", { "data-provider": p.address, class: focus === p.address ? "focus" : "" },
          h("td", null, addr(p.address), h("div", null, h("a", { class: "small", href: `#/jobs?provider=${p.address}` }, "jobs →"))),
          h("td", null, h("span", { class: `alive ${p.alive ? "yes" : "no"}`, "data-alive": String(p.alive) }, h("span", { class: `dot ${p.alive ? "ok" : "bad"}` }), p.alive ? "alive" : "silent")),
          h("td", { class: "stake-cell" }, stakeBar(p)),
          h("td", null, (p.devices || []).map((d) => h("span", { class: "tag" }, d)), h("div", { class: "muted small" }, `≤ ${compact(p.max_params)} params · queue ${p.queue_depth} · RepOps v${p.repops_version ?? "?"}`)),
          h("td", { class: "num" }, h("b", { "data-done": r?.jobs_done ?? 0 }, String(r?.jobs_done ?? 0)), r?.jobs_active ? h("div", { class: "muted small" }, `${r.jobs_active} active`) : null, r?.jobs_failed ? h("div", { class: "bad small" }, `${r.jobs_failed} failed`) : null),
          h("td", { class: "num" }, h("span", { class: "good" }, String(r?.disputes_won ?? 0)), " / ", h("span", { class: r?.disputes_lost ? "bad" : "" }, String(r?.disputes_lost ?? 0))),
          h("td", { class: "muted" }, ago(p.last_heartbeat_at)));
      }))));
  });
}
