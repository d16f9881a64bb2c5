// Jobs: every job the API lists, newest first, filterable by status, client and provider, a page at a time;
// each row with its progress (one /v1/market/progress read for the page, beside the page's own) and price.

import { get, query, type Job, type Page } from "../api";
import { h, replace } from "../dom";
import { ago, eth, loss, STATUSES, statusLabel } from "../format";
import type { PageContext } from "../live";
import { session } from "../session";
import { addr, bar, empty, pill } from "../widgets";

const PAGE = 25;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

interface Latest { job_id: number; latest_step: number; latest_loss: number }

export function renderJobs(root: HTMLElement, ctx: PageContext, params: { query: URLSearchParams }): void {
  const q = params.query;
  const me = session()?.address ?? null;
  const filters = { status: q.get("status") || "", client: q.get("client") || "", provider: q.get("provider") || "" };
  const cursors: (string | null)[] = [null]; // cursor of each page shown so far: Back pops one
  const go = (next: Partial<typeof filters>) => {
    const f = { ...filters, ...next };
    location.hash = "#/jobs" + query({ status: f.status, client: f.client, provider: f.provider });
  };

  const status = h("select", { class: "input", "aria-label": "status", name: "status", onchange: (e: Event) => go({ status: (e.target as HTMLSelectElement).value }) },
    h("option", { value: "" }, "any status"), STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, statusLabel(s))));
  const addressInput = (key: "client" | "provider") => h("input", {
    class: "input mono", name: key, placeholder: `${key} 0x…`, value: filters[key], spellcheck: "false",
    onchange: (e: Event) => {
      const v = (e.target as HTMLInputElement).value.trim();
      if (v && !ADDRESS.test(v)) (e.target as HTMLInputElement).setCustomValidity("0x and 40 hex digits");
      else go({ [key]: v });
    },
  });
  const mine = me ? h("button", { class: `chip ${filters.client === me ? "on" : ""}`, "data-filter": "mine",
    onclick: () => go({ client: filters.client === me ? "" : me }) }, "My jobs") : null;
  const clear = h("button", { class: "btn ghost", onclick: () => go({ status: "", client: "", provider: "" }) }, "Clear");
  const table = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "pager" });
  const summary = h("span", { class: "muted" });
  replace(root,
    h("div", { class: "page-head" }, h("h1", null, "Jobs"), summary),
    h("div", { class: "filters" }, status, addressInput("client"), addressInput("provider"), mine, clear),
    table, pager);

  let rows: Job[] = [];
  let next: string | null = null;
  let latest = new Map<number, Latest>();
  let lastProgress: unknown = null;

  const load = async () => {
    const cursor = cursors[cursors.length - 1];
    // The rows and their progress side by side: /v1/market/progress?listed=N names the jobs /v1/jobs?limit=N lists.
    const pageRead = get<Page<Job>>("/v1/jobs" + query({ ...filters, cursor, limit: PAGE }), ctx.signal);
    const progressRead = get<{ items: Latest[] }>("/v1/market/progress" + query({ ...filters, cursor, listed: PAGE }), ctx.signal);
    progressRead.catch(() => null); // its failure is handled below, once the rows are in
    const page = await pageRead;
    const fresh = page.items !== rows;
    rows = page.items;
    next = page.next_cursor;
    // Both land together (they left together): one draw with the bars, not the rows and then the whole table again.
    // A failed progress read still lets the rows be drawn (and is reported, and tried again next round).
    const p = await progressRead.catch((e) => {
      if (fresh) draw();
      throw e;
    });
    if (p === lastProgress && !fresh) return; // nothing changed (both answers were 304s)
    lastProgress = p;
    latest = new Map(p.items.map((it) => [it.job_id, it]));
    draw();
    table.dataset.progress = "drawn";
  };

  const draw = () => {
    const n = cursors.length;
    summary.textContent = rows.length ? `page ${n} · ${rows.length} job${rows.length === 1 ? "" : "s"}` : "";
    if (!rows.length) {
      replace(table, empty(filters.status || filters.client || filters.provider ? "No job matches these filters." : "No jobs yet. Submit one with `agora jobs submit SPEC.json --price 0.01ether`."));
    } else {
      replace(table, h("table", { class: "table jobs" },
        h("thead", null, h("tr", null, ["Job", "Status", "Client", "Provider", "Progress", "Loss", "Price", "Updated"].map((t) => h("th", null, t)))),
        h("tbody", null, rows.map(row))));
    }
    replace(pager,
      h("button", { class: "btn ghost", disabled: n <= 1, onclick: () => { cursors.pop(); void load(); } }, "← Newer"),
      h("span", { class: "muted" }, `page ${n}`),
      h("button", { class: "btn ghost", disabled: !next, "data-page": "older", onclick: () => { cursors.push(next); void load(); } }, "Older →"));
  };

  const row = (j: Job) => {
    const p = latest.get(j.id);
    const step = p?.latest_step ?? (j.status === "finalized" ? j.num_steps : 0);
    const frac = j.num_steps ? step / j.num_steps : 0;
    return h("tr", { class: "clickable", "data-job": j.id, onclick: (e: Event) => { if (!(e.target as HTMLElement).closest("a")) location.hash = `#/jobs/${j.id}`; } },
      h("td", null, h("a", { href: `#/jobs/${j.id}`, class: "job-id" }, `#${j.id}`)),
      h("td", null, pill(j.status)),
      h("td", null, addr(j.client)),
      h("td", null, j.provider ? addr(j.provider) : h("span", { class: "muted", title: j.wait_reason ?? "" }, j.wait_reason ? "waiting" : "—")),
      h("td", { class: "progress-cell" }, bar(frac, j.status, `${step}/${j.num_steps}`)),
      h("td", { class: "num" }, loss(p?.latest_loss)),
      h("td", { class: "num" }, eth(j.price_wei)),
      h("td", { class: "muted" }, ago(j.updated_at)));
  };

  ctx.every(3000, load);
}
