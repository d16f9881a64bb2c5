// The bisection as the console draws it: from a dispute's moves (GET /v1/disputes/{id}), each level's rounds
// and the interval each round leaves behind, down to the step and operator where the two traces part.
// Plain JavaScript (typed by JSDoc) so `node --test` checks it without a build; PROTOCOL §6 has the rules.

export const LEVEL_NAMES = ["segments", "steps", "ops"];

/**
 * @typedef {{kind?: string, mover?: string|null, tx_hash?: string, block_number?: number, args?: Record<string, any>}} Move
 * @typedef {{party: string, count: number, tx: string|undefined, block: number|undefined}} Reveal
 * @typedef {{lo: number, hi: number, reveals: Reveal[], next: [number, number]|null, splits: number[]}} Round
 * @typedef {{level: number, name: string, span: number, rounds: Round[], final: [number, number]|null}} Level
 * @typedef {{levels: Level[], step: number|null, op: number|null, initialState: boolean}} Narrowing
 */

/**
 * Split points p_0..p_m of [lo, hi] for a round with m parts: p_t = lo + floor(t (hi - lo) / m).
 * @param {number} lo @param {number} hi @param {number} m
 * @returns {number[]}
 */
export function splitPoints(lo, hi, m) {
  const out = [];
  for (let t = 0; t <= m; t++) out.push(lo + Math.floor((t * (hi - lo)) / m));
  return out;
}

/**
 * Who moved, as a role: "defender", "challenger", else the address (or "anyone").
 * @param {string|null|undefined} address @param {string|null|undefined} defender @param {string|null|undefined} challenger
 * @returns {string}
 */
export function roleOf(address, defender, challenger) {
  const a = (address || "").toLowerCase();
  if (a && defender && a === defender.toLowerCase()) return "defender";
  if (a && challenger && a === challenger.toLowerCase()) return "challenger";
  return a || "anyone";
}

/**
 * The interval a round leaves once both parties revealed: the first split point where their elements differ.
 * `first` marks the game's very first round, which also covers both ends (p_0 and p_m).
 * Returns [next interval or null, split points, whether element 0 (the initial state) differs].
 * @param {number} lo @param {number} hi @param {unknown[]} defenderElems @param {unknown[]} challengerElems
 * @param {boolean} first
 * @returns {[[number, number]|null, number[], boolean]}
 */
export function roundResult(lo, hi, defenderElems, challengerElems, first) {
  const c = Math.min(defenderElems.length, challengerElems.length);
  const m = first ? c - 1 : c + 1;
  if (m < 1) return [null, [], false];
  const p = splitPoints(lo, hi, m);
  const differs = (/** @type {number} */ i) => String(defenderElems[i]).toLowerCase() !== String(challengerElems[i]).toLowerCase();
  if (first) {
    if (differs(0)) return [null, p, true];
    for (let t = 1; t <= m; t++) if (differs(t)) return [[p[t - 1], p[t]], p, false];
    return [null, p, false]; // both ends agree: nothing to bisect (the defender wins)
  }
  for (let t = 1; t <= m - 1; t++) if (differs(t - 1)) return [[p[t - 1], p[t]], p, false];
  return [[p[m - 1], p[m]], p, false];
}

/**
 * @param {Move[]} moves in chain order
 * @param {string|null|undefined} defender
 * @param {string|null|undefined} challenger
 * @param {number|null|undefined} checkpointEvery the job's C, to turn (segment, step) into a step number
 * @returns {Narrowing}
 */
export function narrow(moves, defender, challenger, checkpointEvery) {
  /** @type {Map<number, Level>} */
  const levels = new Map();
  const level = (/** @type {number} */ n) => {
    if (!levels.has(n)) levels.set(n, { level: n, name: LEVEL_NAMES[n] || `level ${n}`, span: 0, rounds: [], final: null });
    return /** @type {Level} */ (levels.get(n));
  };
  /** @type {Map<string, {d?: any[], c?: any[]}>} */
  const elems = new Map();
  let initialState = false;
  for (const mv of moves || []) {
    const a = mv.args || {};
    const kind = String(mv.kind || "");
    if (kind.includes("Opened") && a.segments != null) {
      const lv = level(0);
      lv.span = Math.max(lv.span, Number(a.segments));
    }
    if (!kind.includes("ElementsRevealed") || a.lo == null || a.hi == null) continue;
    const n = Number(a.level ?? 0);
    const lo = Number(a.lo);
    const hi = Number(a.hi);
    const lv = level(n);
    lv.span = Math.max(lv.span, hi);
    const key = `${n}:${lo}:${hi}`;
    let round = lv.rounds.find((r) => r.lo === lo && r.hi === hi);
    if (!round) {
      round = { lo, hi, reveals: [], next: null, splits: [] };
      lv.rounds.push(round);
    }
    const party = roleOf(mv.mover || a.party, defender, challenger);
    const list = Array.isArray(a.elements) ? a.elements : [];
    round.reveals.push({ party, count: list.length, tx: mv.tx_hash, block: mv.block_number });
    const got = elems.get(key) || {};
    if (party === "defender") got.d = list;
    if (party === "challenger") got.c = list;
    elems.set(key, got);
    if (got.d && got.c) {
      const first = n === 0 && lv.rounds[0] === round;
      const [next, splits, l0] = roundResult(lo, hi, got.d, got.c, first);
      round.next = next;
      round.splits = splits;
      if (first && l0) initialState = true;
    }
  }
  const out = [...levels.values()].sort((x, y) => x.level - y.level);
  for (const lv of out) {
    // A later round's own interval is the chain's word for where the previous one narrowed to.
    for (let i = 0; i + 1 < lv.rounds.length; i++) lv.rounds[i].next = [lv.rounds[i + 1].lo, lv.rounds[i + 1].hi];
    const last = lv.rounds[lv.rounds.length - 1];
    lv.final = last ? last.next : null;
    if (!lv.span && last) lv.span = last.hi;
  }
  const at = (/** @type {number} */ n) => out.find((l) => l.level === n);
  const segs = at(0)?.final;
  const steps = at(1)?.final;
  const ops = at(2)?.final;
  let step = null;
  let op = null;
  if (ops && ops[1] === ops[0] + 1) {
    op = ops[1];
    if (segs && steps && checkpointEvery) step = segs[0] * checkpointEvery + steps[0] + 1;
  }
  return { levels: out, step, op, initialState };
}
