// Which train partitions each worker reads: shared by the in-process cluster and the coordinator.
import { PetalError } from '../errors.ts';

/**
 * Partition p goes to worker p mod workers. Fewer partitions than workers is refused (PETAL_JOB_PARTITIONS): an
 * idle worker would hold a process and a barrier slot for nothing, and it usually means the data was streamed for
 * another cluster size, which the user should hear about rather than train slower without knowing.
 */
export function assignPartitions(partitions: number, workers: number, topic = 'the train topic'): number[][] {
  if (partitions < workers) {
    throw new PetalError(
      'PETAL_JOB_PARTITIONS',
      `${topic} has ${partitions} partition(s) for ${workers} workers: every worker needs at least one`,
      {
        fix: `stream the data with partitions ≥ ${workers} (stream(…, { partitions: ${workers} })), or run with --workers ${Math.max(partitions, 1)}`,
        detail: { topic, partitions, workers },
      },
    );
  }
  const out: number[][] = Array.from({ length: workers }, () => []);
  for (let p = 0; p < partitions; p++) out[p % workers]!.push(p);
  return out;
}
