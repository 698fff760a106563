// Public surface of the data plane: stream() into Kafka as Arrow, feed() back out as tensors.
export { stream } from './stream.ts';
export type { StreamOptions, StreamSummary, StreamProgress } from './stream.ts';
export { feed } from './feed.ts';
export type { Feed, FeedBatch, FeedOptions, FeedPosition } from './feed.ts';
export type { Feature, FeatureKind, FeatureSpec } from './feature-spec.ts';
export type { StreamInput } from './to-arrow.ts';
export type { TopicMeta, EndMarker } from './topic-records.ts';
export { FeedCodes } from './errors.ts';
