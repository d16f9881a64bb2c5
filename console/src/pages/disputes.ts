// Disputes: the list, and one game — the interval [lo, hi] at each level drawn as it narrows (segments → steps →
// ops), every move with its party, tx and when it was seen, the clocks, the referee's ruling and the slashing.

import { ApiError, get, market as readMarket, query, type Dispute, type Job, type JobEvent, type Market, type Move, type Page } from "../api";
import { h, replace, svg } from "../dom";
import { clock, duration, eth, secondsUntil } from "../format";
import type { PageContext } from "../live";
import { narrow, roleOf } from "../narrowing.js";
import { addr, card, empty, hash, kv, pill, tx } from "../widgets";

const LEVEL_TITLES = ["Segments (checkpoint leaves)", "Steps inside the segment", "Operators inside the step"];
const OUTCOME_TEXT: Record<string, string> = {
  defender_wins: "the defender (provider) was right",
  challenger_wins: "the challenger was right: the provider lied",
  both_lose: "neither matched the referee: both lose",
  void: "the referee missed its deadline: void, the job is judged again",
  moot: "another game on the same result decided it first: bond back, nothing slashed",
};

export function renderDisputes(root: HTMLElement, ctx: PageContext): void {
  const table = h("div", { class: "table-wrap" });
  replace(root, h("div", { class: "page-head" }, h("h1", null, "Disputes")), table);
  ctx.every(3000, async () => {
    const page = await get<Page<Dispute>>("/v1/disputes" + query({ limit: 50 }), ctx.signal);
    if (!page.items.length) {
      replace(table, empty("No disputes. A verifier challenges a result whose trace root differs from its own re-run."));
      return;
    }
    replace(table, h("table", { class: "table" },
      h("thead", null, h("tr", null, ["Dispute", "Job", "Phase", "Level", "Interval", "Defender", "Challenger", "Outcome", "Deadline"].map((t) => h("th", null, t)))),
      h("tbody", null, page.items.map((d) => h("tr", { class: "clickable", "data-dispute": d.id, onclick: () => { location.hash = `#/disputes/${d.id}`; } },
        h("td", null, h("a", { href: `#/disputes/${d.id}` }, `#${d.id}`)),
        h("td", null, d.job_id ? h("a", { href: `#/jobs/${d.job_id}` }, `#${d.job_id}`) : "—"),
        h("td", null, pill(d.phase)),
        h("td", null, ["segments", "steps", "ops"][d.level] ?? String(d.level)),
        h("td", { class: "mono" }, d.lo === null ? "—" : `[${d.lo}, ${d.hi}]`),
        h("td", null, addr(d.defender)), h("td", null, addr(d.challenger)),
        h("td", null, d.outcome ? pill(d.outcome) : h("span", { class: "muted" }, "pending")),
        h("td", { class: "muted" }, d.outcome ? "—" : countdown(d.deadline_at)))))));
  });
}

function toMs(t: string): number {
  return new Date(t.endsWith("Z") || /[+-]\d\d:\d\d$/.test(t) ? t : t + "Z").getTime();
}

function countdown(t: string | null | undefined): string {
  const s = secondsUntil(t);
  if (s === null) return "—";
  return s >= 0 ? `${duration(s)} left` : `passed ${duration(-s)} ago`;
}

const WAITING: Record<string, string> = {
  both: "both parties", defender: "the defender", challenger: "the challenger", referee: "the referee",
};

/** Who owes a move, as the contract has it (the indexer copies it after each batch of moves). */
function toMove(d: Dispute): string {
  if (d.outcome) return "nobody: the game is over";
  return d.waiting_on ? WAITING[d.waiting_on] ?? d.waiting_on : "—";
}

/** A party's chess clock: what is left of its whole-game budget, and whether it is running now. */
function clockLeft(left: number | null | undefined, party: "defender" | "challenger", d: Dispute): string {
  if (left === null || left === undefined) return "—";
  const running = !d.outcome && (d.waiting_on === party || d.waiting_on === "both");
  return `${duration(left)} left` + (running ? " (running since the round began)" : "");
}

/** The narrowing as an SVG: one band per level, one row per round, each level's last interval zoomed into the next. */
function figure(n: ReturnType<typeof narrow>, opsPerStep: number | null): SVGElement {
  const W = 760, X0 = 84, X1 = W - 156, ROW = 22, GAP = 26;
  const back: SVGElement[] = [];
  const parts: SVGElement[] = [];
  let y = 0;
  let prevFinal = null as { x0: number; x1: number; y: number } | null;
  const scale = (v: number, span: number) => X0 + ((X1 - X0) * v) / Math.max(1, span);
  // each round's interval, and where it narrowed to, in a column of its own right of the axis
  const label = (_x0: number, _x1: number, yy: number, text: string, cls: string) => {
    parts.push(svg("text", { x: X1 + 12, y: yy, class: cls }, text));
  };
  for (const lv of n.levels) {
    const span = lv.span || (lv.level === 2 && opsPerStep) || 1;
    const top = y;
    y += 20;
    parts.push(svg("text", { x: 12, y, class: "fig-level" }, `${lv.level} · ${lv.name}`));
    parts.push(svg("text", { x: X0 + 120, y, class: "fig-sub" }, LEVEL_TITLES[lv.level] ?? ""));
    y += 18;
    parts.push(svg("line", { x1: X0, x2: X1, y1: y, y2: y, class: "fig-axis" }));
    parts.push(svg("text", { x: X0, y: y - 4, class: "fig-tick", "text-anchor": "start" }, "0"));
    parts.push(svg("text", { x: X1, y: y - 4, class: "fig-tick", "text-anchor": "end" }, String(span)));
    if (prevFinal) {
      parts.push(svg("path", { d: `M${prevFinal.x0},${prevFinal.y} L${X0},${y} M${prevFinal.x1},${prevFinal.y} L${X1},${y}`, class: "fig-zoom" }));
    }
    y += 6;
    let last = null as { x0: number; x1: number; y: number } | null;
    for (let i = 0; i < lv.rounds.length; i++) {
      const r = lv.rounds[i];
      const rx0 = scale(r.lo, span), rx1 = Math.max(scale(r.hi, span), rx0 + 2);
      parts.push(svg("text", { x: 12, y: y + 15, class: "fig-round" }, `round ${i + 1}`));
      parts.push(svg("rect", { x: rx0, y: y + 4, width: rx1 - rx0, height: ROW - 8, rx: 3, class: "fig-interval" }));
      for (const p of r.splits ?? []) {
        const px = scale(p, span);
        parts.push(svg("line", { x1: px, x2: px, y1: y + 2, y2: y + ROW - 2, class: "fig-split" }));
      }
      const isFinal = i === lv.rounds.length - 1;
      if (r.next) {
        const nx0 = scale(r.next[0], span), nx1 = Math.max(scale(r.next[1], span), nx0 + 3);
        parts.push(svg("rect", { x: nx0, y: y + 4, width: nx1 - nx0, height: ROW - 8, rx: 2, class: isFinal ? "fig-final" : "fig-next" }));
        if (isFinal) last = { x0: nx0, x1: nx1, y: y + ROW - 4 };
        label(Math.min(rx0, nx0), Math.max(rx1, nx1), y + 15, `[${r.lo}, ${r.hi}] → [${r.next[0]}, ${r.next[1]}]`, isFinal ? "fig-final-label" : "fig-label");
      } else {
        label(rx0, rx1, y + 15, `[${r.lo}, ${r.hi}]` + (r.reveals.length < 2 ? " · 1 of 2 moved" : ""), "fig-wait");
      }
      y += ROW;
    }
    if (!lv.rounds.length) {
      parts.push(svg("text", { x: X0, y: y + 15, class: "fig-wait" }, "no rounds yet"));
      y += ROW;
    }
    back.push(svg("rect", { x: 0, y: top, width: W, height: y - top + 8, class: "fig-band", rx: 6 }));
    prevFinal = last;
    y += GAP;
  }
  return svg("svg", { viewBox: `0 0 ${W} ${Math.max(40, y - GAP + 10)}`, class: "narrowing", role: "img", "aria-label": "bisection narrowing" }, back, parts);
}

export function renderDispute(root: HTMLElement, ctx: PageContext, params: { id: string }): void {
  const id = Number(params.id);
  let market: Market | null = null;
  let job: Job | null = null;
  let last: Dispute | null = null;
  let tick = 0;
  ctx.every(2000, async () => {
    tick++;
    if (last?.outcome && tick % 5 !== 0) return; // settled: nothing moves any more
    // One round for the dispute and the deployment (shared with the network badge), one for what hangs off the
    // dispute's job: its terms and its timeline, side by side.
    const marketRead = market ? null : readMarket().then((m) => { market = m; }, () => null);
    let d: Dispute;
    try {
      d = await get<Dispute>(`/v1/disputes/${id}`, ctx.signal);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        replace(root, h("h1", null, `Dispute #${id}`), empty("No such dispute."));
        return;
      }
      throw e;
    }
    const seen = new Map<string, string>();
    if (d.job_id) {
      const jobId = d.job_id;
      const [j, ev] = await Promise.all([
        !job || !d.outcome || tick % 5 === 0 ? get<Job>(`/v1/jobs/${jobId}`, ctx.signal) : Promise.resolve(job),
        get<Page<JobEvent>>(`/v1/jobs/${jobId}/events` + query({ limit: 500 }), ctx.signal),
      ]);
      job = j;
      for (const e of ev.items) if (e.data?.tx_hash && !seen.has(e.data.tx_hash)) seen.set(e.data.tx_hash, e.created_at);
    }
    await marketRead;
    last = d;
    draw(root, d, job, market, seen);
  });
}

function draw(root: HTMLElement, d: Dispute, job: Job | null, market: Market | null, seen: Map<string, string>): void {
  const moves = d.moves ?? [];
  const n = narrow(moves, d.defender, d.challenger, job?.checkpoint_every ?? null);
  const params = market?.params ?? {};
  const opened = moves.find((m) => m.kind.includes("Opened"));
  const settled = moves.find((m) => m.kind.includes("Settled"));
  const ruled = moves.find((m) => m.kind.includes("RefereeRuled"));
  const outputs = moves.filter((m) => m.kind.includes("OutputRevealed"));

  const verdict: Node[] = [];
  if (n.op !== null) {
    verdict.push(h("div", { class: "verdict", "data-verdict": `step ${n.step ?? "?"} op ${n.op}` },
      h("span", { class: "verdict-k" }, "the traces part at"),
      h("span", { class: "verdict-v" }, n.step !== null ? `step ${n.step}` : "one step", h("span", { class: "muted" }, " · "), `op ${n.op}`),
      job ? h("span", { class: "muted" }, `of ${job.ops_per_step} ops per step, ${job.num_steps} steps`) : null));
  } else if (n.initialState) {
    verdict.push(h("div", { class: "verdict" }, h("span", { class: "verdict-k" }, "they disagree on"), h("span", { class: "verdict-v" }, "the initial state")));
  } else if (!d.outcome) {
    const lv = n.levels[n.levels.length - 1];
    verdict.push(h("div", { class: "verdict pending" }, h("span", { class: "verdict-k" }, "narrowing"),
      h("span", { class: "verdict-v" }, lv ? `${lv.name}: [${d.lo ?? "?"}, ${d.hi ?? "?"}]` : "opening")));
  }

  let ruling: Node = h("p", { class: "muted" }, "No ruling yet.");
  if (ruled) {
    const correct = String(ruled.args?.outputHash ?? "").toLowerCase();
    const matched = outputs.filter((o) => String(o.args?.outputHash ?? "").toLowerCase() === correct)
      .map((o) => roleOf(o.mover ?? o.args?.party, d.defender, d.challenger));
    ruling = h("div", null, kv([
      ["recomputed", hash(correct || null)],
      ["matches", matched.length ? h("b", null, matched.join(" and ")) : h("b", null, "neither claim")],
      ...outputs.map((o): [string, Node] => [`${roleOf(o.mover ?? o.args?.party, d.defender, d.challenger)} claimed`, hash(o.args?.outputHash)]),
      ["tx", tx(ruled.tx_hash)],
    ]));
  } else if (moves.some((m) => m.kind.includes("TimedOut"))) {
    ruling = h("p", null, "No ruling needed: a party ran out of time.");
  }

  let money: Node = h("p", { class: "muted" }, "Nothing settled yet.");
  if (settled) {
    const slashed = BigInt(String(settled.args?.slashed ?? "0") || "0");
    const bps = BigInt(Number(params.challenger_reward_bps ?? 0));
    const bond = opened?.args?.bond ?? params.challenger_bond_wei;
    const rows: [string, Node | string][] = [["outcome", h("b", null, d.outcome ?? "—")]];
    if (slashed > 0n) {
      const reward = (slashed * bps) / 10000n;
      rows.push(["slashed", h("b", { class: "bad", "data-slashed": slashed.toString() }, `${eth(slashed)} from the defender`)]);
      rows.push(["to the challenger", eth(reward)]);
      rows.push(["to the treasury", eth(slashed - reward)]);
    } else if (d.outcome === "defender_wins") {
      rows.push(["challenger's bond", h("b", { class: "bad" }, `${eth(bond)} lost to the defender (less the treasury's cut)`)]);
    }
    rows.push(["tx", tx(settled.tx_hash)]);
    money = kv(rows);
  }

  // DisputeGame.clock is each party's budget for the whole game (a chess clock); the deploy parameter keeps its
  // old name move_timeout_s.
  const budget = { party: Number(params.move_timeout_s ?? 0), referee: Number(params.referee_timeout_s ?? 0) };
  const clocks = kv([
    ["to move", h("b", { "data-waiting": d.waiting_on ?? "" }, toMove(d))],
    ["deadline", d.outcome ? "—" : h("b", { "data-deadline": d.deadline_at ?? "" }, countdown(d.deadline_at))],
    ["defender's clock", h("span", { "data-clock": "defender" }, clockLeft(d.clock_defender_s, "defender", d))],
    ["challenger's clock", h("span", { "data-clock": "challenger" }, clockLeft(d.clock_challenger_s, "challenger", d))],
    ["each party", budget.party ? `${duration(budget.party)} for the whole game` : "—"],
    ["referee", budget.referee ? `within ${duration(budget.referee)} of both claims` : "—"],
    ["split", params.k ? `${params.k}-way per round` : "—"],
  ]);

  const movesTable = moves.length ? h("div", { class: "scroll-x" }, h("table", { class: "table moves" },
    h("thead", null, h("tr", null, ["#", "Move", "Party", "Level", "Interval", "Seen (UTC)", "After", "Tx"].map((t) => h("th", null, t)))),
    h("tbody", null, moves.map((m, i) => {
      const a = m.args ?? {};
      const role = roleOf(m.mover ?? a.party, d.defender, d.challenger);
      const who = m.kind.includes("Referee") ? "referee" : m.kind.includes("Opened") ? "challenger" : m.mover || a.party ? role : "anyone";
      const at = seen.get(m.tx_hash);
      const prev = i > 0 ? seen.get(moves[i - 1].tx_hash) : undefined;
      // time since the move before (what a party's thinking cost its clock, at most)
      const after = at && prev ? Math.max(0, Math.round((toMs(at) - toMs(prev)) / 1000)) : null;
      return h("tr", { "data-move": m.kind },
        h("td", { class: "muted" }, String(i + 1)),
        h("td", null, h("b", null, m.kind.replace(/^(Game|Elements)/, "") || "?"), a.elements ? h("span", { class: "muted" }, ` ${a.elements.length} el.`) : null),
        h("td", null, h("span", { class: `party p-${who}` }, who)),
        h("td", null, a.level !== undefined ? ["segments", "steps", "ops"][a.level] ?? String(a.level) : "—"),
        h("td", { class: "mono" }, a.lo !== undefined && a.hi !== undefined ? `[${a.lo}, ${a.hi}]` : a.segments !== undefined ? `[0, ${a.segments}]` : "—"),
        h("td", { class: "muted nowrap" }, at ? clock(at).replace(" UTC", "") : `block ${m.block_number}`),
        h("td", { class: "muted nowrap" }, after === null ? "—" : duration(after)),
        h("td", null, tx(m.tx_hash)));
    })))) : empty("No moves yet.");

  replace(root,
    h("div", { class: "page-head" },
      h("div", { class: "crumbs" }, h("a", { href: "#/disputes" }, "Disputes"), " / "),
      h("h1", null, `Dispute #${d.id}`), pill(d.outcome ?? d.phase, "big"),
      d.job_id ? h("a", { class: "role", href: `#/jobs/${d.job_id}` }, `over job #${d.job_id}`) : null,
      d.outcome ? h("span", { class: "muted right" }, OUTCOME_TEXT[d.outcome] ?? "") : null),
    h("div", { class: "grid dispute-grid" },
      h("div", { class: "col-main" },
        card(["Bisection ", h("span", { class: "card-sub" }, "segments → steps → ops")], [verdict, n.levels.length ? figure(n, job?.ops_per_step ?? null) : empty("The game has not started narrowing.")], { class: "figure-card" }),
        card("Moves", movesTable)),
      h("div", { class: "col-side" },
        card("Parties", kv([
          ["defender", addr(d.defender)], ["challenger", addr(d.challenger)],
          ["bond", eth(opened?.args?.bond ?? null)], ["collateral", job ? eth(job.collateral_wei) : "—"],
          ["phase", pill(d.phase)], ["level", `${["segments", "steps", "ops"][d.level] ?? d.level} [${d.lo ?? "?"}, ${d.hi ?? "?"}]`],
        ])),
        card("Clocks", clocks),
        card("Referee", ruling),
        card("Settlement", money))));
}
