import { describe, expect, it } from 'vitest';
import { overlapsAny, PathMarks, PathOwners, pathPrefixes, StringPool } from '../../src/core/path-marks.js';
import { pathsOverlap } from '../../src/core/paths.js';
import { seeded } from '../bench/stats.js';

/** Paths from a tiny alphabet, so that ancestors, descendants, siblings and look-alike prefixes all occur. */
function randomPath(random: () => number): string {
  const names = ['a', 'b', 'ab', 'a b', 'ü'];
  const depth = Math.floor(random() * 4);
  if (depth === 0) return '/';
  return `/${Array.from({ length: depth }, () => names[Math.floor(random() * names.length)]).join('/')}`;
}

describe('PathMarks', () => {
  it.each([
    [['/a/b'], '/a', true],
    [['/a/b'], '/a/b/c', true],
    [['/a/b'], '/a/b', true],
    [['/a/b'], '/a/bc', false],
    [['/a/b'], '/ab', false],
    [['/'], '/x/y', true],
    [['/x'], '/', true],
    [[], '/', false],
  ])('marked %j: overlaps(%j) is %s', (marked, path, expected) => {
    const marks = new PathMarks();
    for (const m of marked) marks.add(m);
    expect(marks.overlaps(path)).toBe(expected);
  });

  it('agrees with the quadratic definition on 5,000 random cases (marks added in any order)', () => {
    const random = seeded(42);
    for (let i = 0; i < 5000; i++) {
      const marked = Array.from({ length: Math.floor(random() * 5) }, () => randomPath(random));
      const marks = new PathMarks();
      for (const m of marked) marks.add(m);
      const probe = randomPath(random);
      expect({ marked, probe, overlaps: marks.overlaps(probe), atOrBelow: marks.hasAtOrBelow(probe) }).toEqual({
        marked,
        probe,
        overlaps: overlapsAny(probe, marked),
        atOrBelow: marked.some((m) => probe === '/' || m === probe || m.startsWith(`${probe}/`)),
      });
    }
  });

  it('rolls back to a checkpoint exactly: as if only the marks before it had been added (2,000 random runs)', () => {
    const random = seeded(11);
    for (let run = 0; run < 2000; run++) {
      const marks = new PathMarks();
      const added: string[] = [];
      const points: { point: number; count: number }[] = [];
      for (let step = 0; step < 12; step++) {
        const roll = random();
        if (roll < 0.2) points.push({ point: marks.checkpoint(), count: added.length });
        else if (roll < 0.35 && points.length > 0) {
          // Back to a random earlier checkpoint; those after it are gone.
          const k = Math.floor(random() * points.length);
          marks.rollback(points[k]!.point);
          added.length = points[k]!.count;
          points.length = k;
        } else {
          const path = randomPath(random);
          marks.add(path);
          added.push(path);
        }
        for (let q = 0; q < 6; q++) {
          const path = randomPath(random);
          expect(marks.overlaps(path), `${JSON.stringify(added)} vs ${path}`).toBe(
            added.some((m) => pathsOverlap(m, path)),
          );
        }
      }
    }
  });

  it("lists a path's prefixes, root first, the path itself last", () => {
    expect(pathPrefixes('/')).toEqual(['/']);
    expect(pathPrefixes('/a')).toEqual(['/a']);
    expect(pathPrefixes('/a/b c/d')).toEqual(['/a', '/a/b c', '/a/b c/d']);
  });
});

describe('StringPool', () => {
  it('hands back the value it was given and keeps at most its limit', () => {
    const pool = new StringPool(3);
    const long = '/user_homes/alice/reports/2026';
    expect(pool.intern(long.slice(0, 17))).toBe('/user_homes/alice');
    expect(pool.intern(`/user_homes/${'alice'}`)).toBe('/user_homes/alice');
    expect(pool.size).toBe(1);
    for (const name of ['a', 'b', 'c', 'd']) expect(pool.intern(`/${name}`)).toBe(`/${name}`);
    expect(pool.size).toBeLessThanOrEqual(3);
    expect(pool.intern('/user_homes/alice')).toBe('/user_homes/alice');
  });
});

describe('PathOwners', () => {
  it('names the owner of the first-added overlapping path, as the quadratic definition does (5,000 random cases)', () => {
    const random = seeded(7);
    for (let i = 0; i < 5000; i++) {
      // Few paths and many: PathOwners compares with each of a few, and looks many up in maps.
      const added = Array.from({ length: Math.floor(random() * 40) }, () => randomPath(random));
      const owners = new PathOwners<number>();
      for (const [owner, path] of added.entries()) owners.add(path, owner);
      const probe = randomPath(random);
      const expected = added.findIndex((path) => pathsOverlap(path, probe));
      expect({ added, probe, first: owners.first([probe]) }).toEqual({
        added,
        probe,
        first: expected === -1 ? undefined : expected,
      });
    }
  });
});
