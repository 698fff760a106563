// Which partition a message goes to: round-robin by message index, so partitions differ by at most one message
// (stream() cuts a whole table into a multiple of P equal messages: then they hold equal rows, within P).

/** The partition of message `index` among `partitions`. */
export function partitionOf(index: number, partitions: number): number {
  return index % partitions;
}
