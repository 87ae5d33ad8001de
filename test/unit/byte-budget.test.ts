import { expect, it } from 'vitest';
import { ByteBudget } from '../../src/core/byte-budget.js';

// The body memory is shared by every node: one node sending many bodies slowly took all of it, and every node's
// configuration documents were refused (429) for as long as it kept them coming (found by a review).

it('lets one node hold a quarter of the budget, or one body when it holds nothing else', () => {
  const budget = new ByteBudget(800);
  expect(budget.tryReserve(150, { owner: 'a' })).toBe(true);
  expect(budget.tryReserve(60, { owner: 'a' })).toBe(false); // 210 > 200
  expect(budget.tryReserve(50, { owner: 'a' })).toBe(true);
  expect(budget.tryReserve(300, { owner: 'b' })).toBe(true); // one body, larger than a share
  expect(budget.tryReserve(1, { owner: 'b' })).toBe(false);
  expect(budget.tryReserve(100)).toBe(true); // not counted per node
  budget.release(300, 'b');
  expect(budget.tryReserve(200, { owner: 'b' })).toBe(true);
  expect(budget.inUse).toBe(500);
});

it('keeps the last eighth free of uploads, for configuration documents', () => {
  const budget = new ByteBudget(800);
  expect(budget.tryReserve(600, { upload: true })).toBe(true);
  expect(budget.tryReserve(101, { upload: true })).toBe(false); // would leave less than 100 free
  expect(budget.tryReserve(100, { upload: true })).toBe(true);
  expect(budget.tryReserve(100, { owner: 'b' })).toBe(true); // a document may take the rest
  expect(budget.tryReserve(1)).toBe(false); // nothing may go past the limit
  budget.release(600);
  budget.release(100);
  budget.release(100, 'b');
  expect(budget.inUse).toBe(0);
});
