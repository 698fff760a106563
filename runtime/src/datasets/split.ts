// A stratified, seeded train/validation split: every class keeps the same share in both parts, and the same seed
// always gives the same split (so a notebook's held-out set never leaks into training on a re-run).
import { PetalError } from '../errors.ts';
import { mulberry32 } from '../random.ts';

/** Options of stratifiedSplit(). */
export interface SplitOptions<T> {
  /** The class of an item. */
  key: (item: T) => string;
  /** Share of each class held out for validation, in (0, 1); default 0.2. */
  validation?: number;
  /** Seed of the per-class shuffle; default 42. */
  seed?: number;
}

/** Splits `items` per class (round(share × class size), at least one, to validation); both parts in shuffled order. */
export function stratifiedSplit<T>(items: readonly T[], options: SplitOptions<T>): { train: T[]; validation: T[] } {
  const share = options.validation ?? 0.2;
  if (!(share > 0 && share < 1)) {
    throw new PetalError('PETAL_OPTIONS', `validation must be a share in (0, 1), not ${share}`, {
      fix: 'e.g. validation: 0.2 holds out 20 % of each class',
    });
  }
  const next = mulberry32(options.seed ?? 42);
  const byClass = new Map<string, T[]>();
  for (const item of items) {
    const k = options.key(item);
    const list = byClass.get(k);
    if (list) list.push(item);
    else byClass.set(k, [item]);
  }
  const train: T[] = [];
  const validation: T[] = [];
  for (const k of [...byClass.keys()].sort()) {
    const list = shuffled(byClass.get(k)!.slice(), next);
    const held = list.length < 2 ? 0 : Math.max(1, Math.round(list.length * share));
    validation.push(...list.slice(0, held));
    train.push(...list.slice(held));
  }
  return { train: shuffled(train, next), validation: shuffled(validation, next) };
}

/** Fisher–Yates in place. Both parts come out with the classes mixed: fed in class order, a bounded shuffle pool
 * would make every batch one class (and training diverge). */
function shuffled<T>(list: T[], next: () => number): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}
