// One job: status and finality, terms, the live loss curve (and eval points when the worker reports them), the
// one timeline, the matcher's reason while it waits, the result with the client's download, and its dispute.

import type uPlot from "uplot";

import { ApiError, download, get, market, query, type Dispute, type Job, type JobEvent, type Market, type Overview, type Page, type Progress, type ProgressPoint, type Result } from "../api";
import { h, replace } from "../dom";
import { ago, clock, compact, datetime, duration, eth, loss, secondsUntil } from "../format";
import type { PageContext } from "../live";
import { session } from "../session";
import { addr, bar, card, empty, hash, kv, pill, tx } from "../widgets";

const TERMINAL = new Set(["finalized", "failed", "cancelled", "expired"]);
const SOURCES: Record<string, string> = { chain: "chain", matcher: "matcher", worker: "worker", dispute: "dispute", verifier: "verifier", coordinator: "coordinator" };

/** Held-out evaluations the worker reported (timeline kind "evaluation": step, loss, accuracy), by step. */
function evaluations(events: JobEvent[]): Map<number, { loss: number | null; accuracy: number | null }> {
  const out = new Map<number, { loss: number | null; accuracy: number | null }>();
  for (const e of events) {
    if (e.kind !== "evaluation" || typeof e.data?.step !== "number") continue;
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
    out.set(e.data.step, { loss: num(e.data.loss), accuracy: num(e.data.accuracy) });
  }
  return out;
}

let uplotClass: Promise<typeof uPlot> | null = null;
function loadChart(): Promise<typeof uPlot> {
  uplotClass ??= import("../chart").then((m) => m.default);
  return uplotClass;
}

export function renderJob(root: HTMLElement, ctx: PageContext, params: { id: string }): void {
  const id = Number(params.id);
  const head = h("div", { class: "page-head" });
  const finality = h("div", { class: "finality" });
  const chartBox = h("div", { class: "chart", "data-chart": "loss" });
  const chartStats = h("div", { class: "chart-stats" });
  const timeline = h("ol", { class: "timeline" });
  const terms = h("div");
  const result = h("div");
  const disputeBox = h("div");
  const waiting = h("div", { class: "wait", hidden: true });
  replace(root, head, finality, waiting,
    h("div", { class: "grid job-grid" },
      h("div", { class: "col-main" },
        card(["Loss", h("span", { class: "card-sub", "data-points": "0" })], [chartStats, chartBox], { class: "chart-card" }),
        card("Timeline", timeline)),
      h("div", { class: "col-side" },
        card("Result", result),
        card("Dispute", disputeBox, { "data-card": "dispute" }),
        card("Terms", terms))));

  const points: ProgressPoint[] = [];
  let plot: uPlot | null = null;
  let marketInfo: Market | null = null;
  let lastEvents: JobEvent[] | null = null;
  let job: Job | null = null;
  let res: Result | null = null;

  const drawChart = async (j: Job, events: JobEvent[]) => {
    const UPlot = await loadChart();
    const evals = evaluations(events);
    const xs = points.map((p) => p.step);
    const ys = points.map((p) => p.loss);
    const ev = points.map((p) => evals.get(p.step)?.loss ?? null);
    const hasEval = ev.some((v) => v !== null);
    const lastEval = [...evals.entries()].sort((a, b) => a[0] - b[0]).pop()?.[1];
    const data: uPlot.AlignedData = hasEval ? [xs, ys, ev as (number | null)[]] : [xs, ys];
    const sub = chartBox.parentElement?.querySelector<HTMLElement>(".card-sub");
    if (sub) {
      sub.dataset.points = String(points.length);
      sub.textContent = points.length ? ` · ${points.length} point${points.length === 1 ? "" : "s"}` : "";
    }
    const last = points[points.length - 1];
    replace(chartStats,
      h("div", { class: "stat" }, h("span", { class: "stat-k" }, "step"), h("span", { class: "stat-v", "data-step": last?.step ?? 0 }, `${last?.step ?? 0} / ${j.num_steps}`)),
      h("div", { class: "stat" }, h("span", { class: "stat-k" }, "loss"), h("span", { class: "stat-v" }, loss(last?.loss))),
      lastEval ? h("div", { class: "stat", "data-eval": "" }, h("span", { class: "stat-k" }, "held-out"),
        h("span", { class: "stat-v" }, lastEval.accuracy !== null ? `${(lastEval.accuracy * 100).toFixed(1)} %` : loss(lastEval.loss))) : null,
      h("div", { class: "stat grow" }, bar(j.num_steps ? (last?.step ?? 0) / j.num_steps : 0, j.status)));
    if (!points.length) {
      plot?.destroy();
      plot = null;
      replace(chartBox, empty(j.status === "running" ? "Training started; waiting for the first reported step." : "No progress reported yet."));
      return;
    }
    const width = Math.max(320, chartBox.clientWidth || 720);
    if (plot && plot.series.length === data.length && chartBox.contains(plot.root)) {
      plot.setData(data);
      return;
    }
    plot?.destroy();
    chartBox.replaceChildren();
    const series: uPlot.Series[] = [
      { label: "step" },
      { label: "loss", stroke: "#4f46e5", width: 2, fill: "rgba(79,70,229,0.08)", points: { show: false } },
    ];
    if (hasEval) series.push({ label: "held-out loss", stroke: "#0d9488", width: 0, points: { show: true, size: 7, fill: "#0d9488" }, spanGaps: true });
    plot = new UPlot({
      width, height: 260, series, legend: { show: hasEval },
      scales: { x: { time: false, range: (_u, _min, max) => [0, Math.max(max, j.num_steps)] } },
      axes: [
        { stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" } },
        { stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" }, size: 56 },
      ],
      cursor: { drag: { x: false, y: false } },
    }, data, chartBox);
  };

  const drawHead = (j: Job) => {
    const me = session()?.address;
    const role = me === j.client ? "you are its client" : me && me === j.provider ? "you are its provider" : null;
    replace(head,
      h("div", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / "),
      h("h1", null, `Job #${j.id}`), pill(j.status, "big"),
      role ? h("span", { class: "role" }, role) : null,
      typeof j.verification === "string" && j.verification ? h("span", { class: "tag", "data-verification": j.verification }, `verification: ${j.verification.replace(/_/g, " ")}`) : null,
      h("span", { class: "muted right" }, `updated ${ago(j.updated_at)}`));
    replace(waiting, j.wait_reason ? ["Matcher: ", h("b", null, j.wait_reason)] : null);
    waiting.hidden = !j.wait_reason || TERMINAL.has(j.status);
  };

  const drawFinality = (j: Job, events: JobEvent[]) => {
    const conf = marketInfo?.confirmations ?? 0;
    const chain = events.filter((e) => e.source === "chain");
    const lastChain = chain[chain.length - 1];
    const parts: (Node | string)[] = [];
    if (j.status === "awaiting_funding") {
      parts.push("Not on-chain yet: waiting for the client's escrow transaction (JobMarket.postJob).");
    } else {
      parts.push(h("span", { class: "dot ok" }), conf > 0
        ? `Chain state, each event counted once ${conf} block${conf === 1 ? "" : "s"} deep`
        : "Chain state as mined (this chain counts events at 0 confirmations)");
      if (lastChain) parts.push(" · last event ", h("b", null, lastChain.kind), ` at block ${lastChain.data?.block ?? "?"}`);
    }
    const submitted = [...events].reverse().find((e) => e.kind === "ResultSubmitted");
    const until = submitted?.message.match(/until (\S+)/)?.[1];
    if (j.status === "submitted" && until) {
      const left = secondsUntil(until);
      parts.push(" · ", h("b", null, left !== null && left > 0 ? `challenge window closes in ${duration(left)}` : "challenge window closed; finalizing"));
    }
    if (j.status === "finalized") parts.push(" · ", h("b", null, "final: the provider is paid"));
    if (j.status === "failed") parts.push(" · ", h("b", null, "final: the provider lost its dispute; the client is refunded"));
    replace(finality, parts);
  };

  const drawTerms = (j: Job) => {
    replace(terms, kv([
      ["price", h("b", null, eth(j.price_wei))],
      ["collateral", eth(j.collateral_wei)],
      ["client", addr(j.client)],
      ["provider", addr(j.provider)],
      ["steps", `${j.num_steps} (checkpoint every ${j.checkpoint_every})`],
      ["ops per step", String(j.ops_per_step)],
      ["parameters", compact(j.num_params)],
      ["deadline", datetime(j.deadline_at)],
      ["accept by", j.accept_by ? datetime(j.accept_by) : "—"],
      ["spec hash", hash(j.spec_hash)],
      ["on-chain id", j.chain_job_id === null ? "—" : String(j.chain_job_id)],
    ]));
  };

  const drawResult = (j: Job, r: Result | null) => {
    const me = session()?.address;
    let action: Node;
    if (!r?.model_artifact) action = h("p", { class: "muted" }, j.trace_root ? "The provider has not registered the model file yet." : "No result yet.");
    else if (!me) action = h("p", { class: "muted", "data-download": "signed-out" }, "Sign in as the job's client to download the model.");
    else if (me !== j.client) action = h("p", { class: "muted", "data-download": "denied" }, "Only the job's client can download its model.");
    else {
      const note = h("span", { class: "muted" });
      action = h("div", { class: "download" },
        h("button", { class: "btn primary", "data-download": "button", onclick: async () => {
          note.textContent = "downloading…";
          try {
            const n = await download(`/v1/jobs/${j.id}/model`, `job-${j.id}-model`);
            note.textContent = `saved (${compact(n)} bytes); check it against the final model hash`;
          } catch (e) {
            note.textContent = e instanceof ApiError ? e.message : String(e);
          }
        } }, "Download model"), note);
    }
    replace(result, kv([
      ["trace root", hash(j.trace_root)],
      ["final model hash", hash(j.final_model_hash)],
      ["model file", hash(r?.model_artifact ?? null)],
      ...(r?.evaluation ? [["held-out", `after step ${r.evaluation.step}: ` + [r.evaluation.loss !== null ? `loss ${loss(r.evaluation.loss)}` : "", r.evaluation.accuracy !== null ? `accuracy ${(r.evaluation.accuracy * 100).toFixed(1)} %` : ""].filter(Boolean).join(", ")] as [string, string]] : []),
    ]), action);
  };

  const drawTimeline = (events: JobEvent[]) => {
    if (!events.length) {
      replace(timeline, empty("Nothing yet."));
      return;
    }
    replace(timeline, [...events].reverse().map((e) => {
      const src = SOURCES[e.source] ?? "other";
      return h("li", { class: `tl tl-${src}`, "data-kind": `${e.source}/${e.kind}` },
        h("span", { class: "tl-dot" }),
        h("div", { class: "tl-body" },
          h("div", { class: "tl-head" }, h("span", { class: "tl-src" }, e.source), h("b", null, e.kind), h("span", { class: "muted right", title: datetime(e.created_at) }, clock(e.created_at))),
          h("div", { class: "tl-msg" }, e.message),
          e.data?.tx_hash ? h("div", { class: "tl-meta" }, "tx ", tx(e.data.tx_hash), e.data.block !== undefined ? ` · block ${e.data.block}` : "") : null));
    }));
  };

  const drawDispute = (items: Dispute[]) => {
    if (!items.length) {
      replace(disputeBox, h("p", { class: "muted" }, job && ["submitted", "finalized"].includes(job.status) ? "Not challenged." : "No dispute."));
      return;
    }
    replace(disputeBox, items.map((d) => h("a", { class: "dispute-link", href: `#/disputes/${d.id}`, "data-dispute": d.id },
      h("div", null, h("b", null, `Dispute #${d.id}`), " ", pill(d.outcome ?? d.phase)),
      h("div", { class: "muted" }, d.outcome ? "settled — see the narrowing" : `level ${d.level}, interval [${d.lo ?? "?"}, ${d.hi ?? "?"}]`),
      h("span", { class: "arrow" }, "→"))));
  };

  const gone = (e: unknown): never => {
    if (e instanceof ApiError && e.status === 404) {
      replace(root, h("h1", null, `Job #${id}`), empty("No such job."));
      throw new DOMException("gone", "AbortError");
    }
    throw e;
  };
  const readJob = async () => {
    const j = await get<Job>(`/v1/jobs/${id}`, ctx.signal).catch(gone);
    job = j;
    return j;
  };
  const readMarket = () => (marketInfo ? null : market().then((m) => { marketInfo = m; }, () => null)); // shared with the network badge
  /** The first draw's reads in one request (the job, its curve, timeline, disputes and result) and the market's. */
  const readOverview = async () => {
    const marketRead = readMarket();
    const o = await get<Overview>(`/v1/jobs/${id}/overview`, ctx.signal).catch(gone);
    job = o.job;
    res = o.result;
    points.push(...o.progress.points);
    if (o.progress.points.length >= 1000) await readPoints(); // a long run: the rest of its curve, a page at a time
    await marketRead;
    return { j: o.job, events: o.events.items, disputes: o.disputes };
  };
  const readPoints = async () => {
    const since = points.length ? points[points.length - 1].step + 1 : 0;
    for (let from = since, guard = 0; guard < 50; guard++) {
      const p = await get<Progress>(`/v1/jobs/${id}/progress` + query({ since_step: from }), ctx.signal);
      const fresh = p.points.filter((pt) => !points.length || pt.step > points[points.length - 1].step);
      points.push(...fresh);
      if (p.points.length < 1000 || !fresh.length) break;
      from = points[points.length - 1].step + 1;
    }
  };
  const readEvents = () => get<Page<JobEvent>>(`/v1/jobs/${id}/events` + query({ limit: 500 }), ctx.signal).then((p) => p.items);
  const readDisputes = () => get<Page<Dispute>>("/v1/disputes" + query({ job_id: id }), ctx.signal).then((p) => p.items);
  const readResult = () => get<Result>(`/v1/jobs/${id}/result`, ctx.signal).then((r) => { res = r; });

  /** A polling round: the job's own read and the reads that hang off it, together (one round trip). */
  const readRound = async () => {
    const wantsDisputes = (j: Job | null) => !!j && j.chain_job_id !== null;
    const wantsResult = (j: Job | null) => !!j && !!j.trace_root && !res?.model_artifact;
    const before = job;
    const jobRead = readJob();
    const rest = Promise.all([
      readPoints(),
      readEvents(),
      wantsDisputes(before) ? readDisputes() : Promise.resolve(null),
      wantsResult(before) ? readResult() : Promise.resolve(),
    ]);
    rest.catch(() => null); // the job's own read reports first (a 404 is "no such job", not a failed timeline read)
    const j = await jobRead;
    const [, events, read] = await rest;
    // What this answer calls for that the last one did not (it went on-chain, or its result arrived): read now.
    const disputes = read ?? (wantsDisputes(j) ? await readDisputes() : []);
    if (wantsResult(j) && !wantsResult(before)) await readResult();
    return { j, events, disputes };
  };

  void loadChart(); // fetch the chart's chunk while the first reads are under way
  let tick = 0;
  ctx.every(2000, async () => {
    tick++;
    // A finished job changes rarely: after the first full read, look again every few ticks only.
    if (job && TERMINAL.has(job.status) && lastEvents !== null && tick % 5 !== 0) return;
    let j: Job, events: JobEvent[], disputes: Dispute[];
    if (!job) ({ j, events, disputes } = await readOverview());
    else ({ j, events, disputes } = await readRound());
    drawHead(j);
    drawFinality(j, events);
    drawTerms(j);
    drawResult(j, res);
    if (events !== lastEvents) drawTimeline(events);
    lastEvents = events;
    drawDispute(disputes);
    await drawChart(j, events); // last: the first draw waits for the chart's chunk
  });
}
