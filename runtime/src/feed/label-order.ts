// Rows streamed in label order (one class after another, as photos read folder by folder come) put one class in
// every message, so each partition holds long stretches of one class, and a feed's shuffle pool (10 batches by
// default) has nothing to mix: training then sees one class at a time and learns the last one it saw. stream()
// counts the runs of equal labels as it sends, and its summary warns when the classes came grouped.
import type { Table } from 'apache-arrow';

/** Runs of equal labels across the tables of one stream, counted table by table. */
export class LabelOrder {
  readonly column: string;
  private runs = 0;
  private rows = 0;
  private last: number | undefined;
  private readonly classes = new Set<number>();

  constructor(column: string) {
    this.column = column;
  }

  /** Counts the label column of `table` (class indices or numbers: a pass over one column per message). */
  add(table: Table): void {
    const values = table.getChild(this.column)?.toArray() as ArrayLike<number> | undefined;
    if (!values) return;
    let { runs, last } = this;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v !== last) {
        runs++;
        last = v;
        this.classes.add(v);
      }
    }
    this.runs = runs;
    this.last = last;
    this.rows += values.length;
  }

  /**
   * A warning when the labels came grouped by class (at most 4 runs per class, and runs of 100 rows or more on
   * average), or undefined. Shuffled data has about as many runs as rows.
   */
  warning(): string | undefined {
    const classes = this.classes.size;
    if (classes < 2 || this.runs > 4 * classes || this.rows < 100 * this.runs) return undefined;
    return (
      `the rows came ordered by ${this.column} (${this.runs} runs of one value over ${this.rows} rows): each ` +
      `partition holds long stretches of one value, which a feed's shuffle pool cannot mix; shuffle the rows ` +
      `before stream() (nodejs-polars: df.sample({ frac: 1, shuffle: true }); Arquero: ` +
      `table.sample(table.numRows(), { shuffle: true }))`
    );
  }
}
