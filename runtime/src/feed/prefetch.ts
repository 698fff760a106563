// A bounded read-ahead stage: keeps up to `size` items made ahead of the consumer, never more; items still held
// when the consumer stops early are disposed.

/** Pulls `source` up to `size` items ahead of the consumer. */
export async function* prefetch<T>(
  source: AsyncIterator<T> & AsyncIterable<T>,
  size: number,
  dispose: (item: T) => void,
): AsyncGenerator<T> {
  const ahead: Promise<IteratorResult<T>>[] = [];
  let done = false;
  const fill = () => {
    // One pull at a time in flight: an async generator serialises next() calls anyway, and this keeps errors ordered.
    while (!done && ahead.length < size) {
      const pull = source.next();
      pull.catch(() => {});
      ahead.push(pull);
      pull.then(
        (r) => {
          if (r.done) done = true;
        },
        () => {
          done = true;
        },
      );
    }
  };
  try {
    fill();
    while (ahead.length > 0) {
      const result = await ahead.shift()!;
      if (result.done) return;
      fill();
      yield result.value;
    }
  } finally {
    done = true;
    for (const pending of ahead.splice(0)) {
      const result = await pending.catch(() => undefined);
      if (result && !result.done) dispose(result.value);
    }
    await source.return?.(undefined);
  }
}
