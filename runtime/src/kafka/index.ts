// Public surface of the embedded Kafka broker and its clients.
export { startBroker, stopBrokerProcess, brokerProcessAlive, brokerConnection, brokersOnDataDir } from './broker.ts';
export type { Broker, BrokerOptions } from './broker.ts';
export { MAX_MESSAGE_BYTES } from './broker-config.ts';
export {
  kafkaStatePaths,
  readBrokerRecord,
  writeBrokerRecord,
  removeBrokerRecord,
  recordAlive,
  recordOf,
} from './broker-record.ts';
export type { BrokerRecord } from './broker-record.ts';
export { createAdmin, createProducer, createConsumer, waitForMetadata } from './client.ts';
export type { Admin, Consumer, Producer, ClientOptions, KafkaConnection, KafkaSasl } from './client.ts';
export { findRunningBroker } from './running-broker.ts';
export type { RunningBroker } from './running-broker.ts';
