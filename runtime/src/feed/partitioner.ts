// Which partition a message goes to: round-robin by message index, so partitions differ by at most one message
// and a sync step's workers see nearly equal row counts.

/** The partition of message `index` among `partitions`. */
export function partitionOf(index: number, partitions: number): number {
  return index % partitions;
}
