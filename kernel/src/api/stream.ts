// `stream` and `topics` of the "petal" module (and `%%stream NAME`): the runtime's stream() into the kernel's broker,
// with a live StreamCard, remembering the topic each name last wrote so feeds can be named as the cell named them.
import { stream as streamToKafka } from '@petal/runtime';
import type { StreamInput, StreamProgress } from '@petal/runtime';
import { withText } from '../display.ts';
import type { LiveOutputs } from '../live/live-outputs.ts';
import type { Interrupts } from './interrupts.ts';
import type { StreamCard } from '../outputs/types.ts';
import { cardError, checkOptions } from './check-options.ts';
import type { KafkaApi, StreamApiOptions, StreamData, StreamSummary } from './types.ts';

const KEYS = ['topic', 'partitions', 'fresh', 'features', 'vocabularies', 'messageBytes'];

/** What stream needs from the kernel. */
export interface StreamApiDeps {
  kafka: KafkaApi;
  live: LiveOutputs;
  /** What an interrupt stops: the stream runs under its signal (the partial topic is deleted). */
  interrupts: Interrupts;
}

/** stream(), topics() and the name → topic lookup train() uses. */
export interface StreamApi {
  stream(data: StreamData, options: StreamApiOptions): Promise<StreamSummary>;
  topics(): Record<string, string>;
  /** The topic `name` last wrote through stream(), or `name` itself (an exact topic name). */
  resolve(name: string): string;
}

export function createStreamApi(deps: StreamApiDeps): StreamApi {
  const names = new Map<string, string>();
  return {
    async stream(data, options) {
      checkOptions('PETAL_STREAM_OPTIONS', 'stream()', options, KEYS, ['topic']);
      const connection = deps.kafka.connection(); // no broker: PETAL_KAFKA_DOWN, "start one with %kafka up"
      const started = Date.now();
      let card: StreamCard = {
        version: 1,
        topic: options.topic,
        state: 'streaming',
        rows: 0,
        totalRows: -1,
        bytes: 0,
        elapsedMs: 0,
        partitions: [],
      };
      const live = deps.live.start('stream', card);
      const progress = (p: StreamProgress): void => {
        card = { ...card, ...p, elapsedMs: Date.now() - started };
        live.update(card);
      };
      try {
        const summary = await deps.interrupts.run((signal) =>
          streamToKafka(data as StreamInput, { ...options, connection, onProgress: progress, signal }),
        );
        names.set(options.topic, summary.topic);
        card = {
          ...card,
          topic: summary.topic,
          state: 'done',
          rows: summary.rows,
          totalRows: summary.rows,
          bytes: summary.bytes,
          elapsedMs: Date.now() - started,
          partitions:
            card.partitions.length === summary.partitions
              ? card.partitions
              : summary.partitionRows.map((rows) => ({ rows, bytes: 0, batches: 0 })),
          schema: summary.schema,
        };
        live.finish(card);
        const warnings = summary.warnings.map((w) => `\nwarning: ${w}`).join('');
        return withText(
          summary,
          `streamed ${summary.rows} rows (${(summary.bytes / 1e6).toFixed(1)} MB) to ${summary.topic} in ${summary.partitions} partitions; feeds may name it "${options.topic}"${warnings}`,
        );
      } catch (err) {
        live.finish({ ...card, state: 'failed', elapsedMs: Date.now() - started, error: cardError(err) });
        throw err;
      }
    },
    topics: () => Object.fromEntries(names),
    resolve: (name) => names.get(name) ?? name,
  };
}
