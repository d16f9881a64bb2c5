// Run with `node --test console/test/` (tests/unit/test_console_narrowing.py does).
import assert from "node:assert/strict";
import { test } from "node:test";

import { narrow, roundResult, splitPoints } from "../src/narrowing.js";

const D = "0xdddddddddddddddddddddddddddddddddddddddd";
const C = "0xcccccccccccccccccccccccccccccccccccccccc";
const h = (n) => "0x" + n.toString(16).padStart(64, "0");
const reveal = (party, level, lo, hi, elements) => ({
  kind: "ElementsRevealed", mover: party, tx_hash: h(lo * 1000 + hi), block_number: 1,
  args: { party, level, lo, hi, elements },
});

test("split points follow p_t = lo + floor(t(hi-lo)/m)", () => {
  assert.deepEqual(splitPoints(0, 10, 4), [0, 2, 5, 7, 10]);
  assert.deepEqual(splitPoints(3, 4, 1), [3, 4]);
});

test("a normal round keeps [p_{t-1}, p_t] of the first differing split point", () => {
  // [0, 16], k = 4: splits 4, 8, 12; they agree at 4, differ at 8.
  assert.deepEqual(roundResult(0, 16, [h(4), h(8), h(12)], [h(4), h(99), h(98)], false)[0], [4, 8]);
  // all agree → the last part
  assert.deepEqual(roundResult(0, 16, [h(4), h(8), h(12)], [h(4), h(8), h(12)], false)[0], [12, 16]);
});

test("the first round covers both ends; a differing initial state goes to the referee", () => {
  const [next, , l0] = roundResult(0, 3, [h(0), h(1), h(2), h(3)], [h(0), h(1), h(7), h(8)], true);
  assert.deepEqual(next, [1, 2]);
  assert.equal(l0, false);
  assert.equal(roundResult(0, 3, [h(5), h(1), h(2), h(3)], [h(0), h(1), h(2), h(3)], true)[2], true);
});

test("a whole game narrows to the step and operator, defensively ordered by the chain", () => {
  const moves = [
    { kind: "GameOpened", args: { segments: 3, defender: D, challenger: C } },
    // level 0, segments [0, 3]; first round reveals L[0..3]: they part between segment 1 and 2
    reveal(D, 0, 0, 3, [h(0), h(1), h(2), h(3)]),
    reveal(C, 0, 0, 3, [h(0), h(1), h(9), h(9)]),
    { kind: "RootCommitted", mover: D, args: { party: D, level: 1, root: h(5) } },
    { kind: "RootCommitted", mover: C, args: { party: C, level: 1, root: h(6) } },
    // level 1, steps of segment 1: [0, 10] with k = 8 (m = 8): splits 1..8 → differ first at t = 4 → [3, 5]
    reveal(C, 1, 0, 10, [1, 2, 3, 4, 5, 6, 7].map(h)),
    reveal(D, 1, 0, 10, [1, 2, 3, 9, 9, 9, 9].map(h)),
    reveal(D, 1, 3, 5, [h(4)]),
    reveal(C, 1, 3, 5, [h(4)]), // agree at 4 → [4, 5]
    // level 2, ops of step 10·1 + 4 + 1 = 15: [0, 6]
    reveal(D, 2, 0, 6, [0, 1, 2, 3, 4].map(h)),
    reveal(C, 2, 0, 6, [0, 1, 7, 7, 7].map(h)), // m = 6, splits 1..5: differ first at 3 → [2, 3]
    { kind: "RefereeRuled", args: { outputHash: h(1) } },
    { kind: "GameSettled", args: { outcome: 2, slashed: "1000" } },
  ];
  const n = narrow(moves, D, C, 10);
  assert.deepEqual(n.levels.map((l) => [l.name, l.span, l.final]), [
    ["segments", 3, [1, 2]],
    ["steps", 10, [4, 5]],
    ["ops", 6, [2, 3]],
  ]);
  assert.equal(n.levels[1].rounds.length, 2);
  assert.deepEqual(n.levels[1].rounds[0].next, [3, 5]);
  assert.equal(n.step, 15);
  assert.equal(n.op, 3);
});

test("a round with one reveal so far has no result yet, and odd moves are ignored", () => {
  const n = narrow([reveal(D, 0, 0, 8, [h(0), h(1)]), { kind: "Mystery", args: null }, {}], D, C, 5);
  assert.equal(n.levels[0].rounds[0].next, null);
  assert.equal(n.step, null);
  assert.equal(n.op, null);
});
