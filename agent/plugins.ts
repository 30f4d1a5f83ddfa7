import type { z } from "zod";
import { fileSinkSchema } from "./sinks/file/config.js";
import { firehoseSinkSchema } from "./sinks/firehose/config.js";
import { httpSinkSchema } from "./sinks/http/config.js";
import { kinesisSinkSchema } from "./sinks/kinesis/config.js";
import { mqttSinkSchema } from "./sinks/mqtt/config.js";
import type { Sink, SinkContext } from "./sinks/sink.js";
import { stdoutSinkSchema } from "./sinks/stdout/config.js";
import { hostSourceSchema } from "./sources/host/config.js";
import { mqttSourceSchema } from "./sources/mqtt/config.js";
import { mqttBrokerSourceSchema } from "./sources/mqtt-broker/config.js";
import { onewireSourceSchema } from "./sources/onewire/config.js";
import { serialSourceSchema } from "./sources/serial/config.js";
import type { Source, SourceContext } from "./sources/source.js";

/**
 * Every source and sink type: its config schema (validated at start) and a lazy loader for its
 * implementation, so `edgespool check` never loads the AWS SDK or serialport. Add a plugin by
 * adding one line to each list below.
 */

export const sourceSchemas = [
  mqttBrokerSourceSchema,
  serialSourceSchema,
  mqttSourceSchema,
  hostSourceSchema,
  onewireSourceSchema,
] as const;
export const sinkSchemas = [
  kinesisSinkSchema,
  stdoutSinkSchema,
  fileSinkSchema,
  httpSinkSchema,
  mqttSinkSchema,
  firehoseSinkSchema,
] as const;

export type SourceConfig = z.infer<(typeof sourceSchemas)[number]>;
export type SinkConfig = z.infer<(typeof sinkSchemas)[number]>;

type Loader<C, T, X> = () => Promise<(cfg: C, ctx: X) => T | Promise<T>>;

const sourceLoaders: {
  [K in SourceConfig["type"]]: Loader<Extract<SourceConfig, { type: K }>, Source, SourceContext>;
} = {
  "mqtt-broker": async () => (await import("./sources/mqtt-broker/index.js")).createMqttBrokerSource,
  serial: async () => (await import("./sources/serial/index.js")).createSerialSource,
  mqtt: async () => (await import("./sources/mqtt/index.js")).createMqttSource,
  host: async () => (await import("./sources/host/index.js")).createHostSource,
  onewire: async () => (await import("./sources/onewire/index.js")).createOnewireSource,
};

const sinkLoaders: {
  [K in SinkConfig["type"]]: Loader<Extract<SinkConfig, { type: K }>, Sink, SinkContext>;
} = {
  stdout: async () => (await import("./sinks/stdout/index.js")).createStdoutSink,
  file: async () => (await import("./sinks/file/index.js")).createFileSink,
  http: async () => (await import("./sinks/http/index.js")).createHttpSink,
  mqtt: async () => (await import("./sinks/mqtt/index.js")).createMqttSink,
  kinesis: async () => (await import("./sinks/kinesis/index.js")).createKinesisSink,
  firehose: async () => (await import("./sinks/firehose/index.js")).createFirehoseSink,
};

export async function createSource(cfg: SourceConfig, ctx: SourceContext): Promise<Source> {
  const load = sourceLoaders[cfg.type] as Loader<SourceConfig, Source, SourceContext>;
  return (await load())(cfg, ctx);
}

export async function createSink(cfg: SinkConfig, ctx: SinkContext): Promise<Sink> {
  const load = sinkLoaders[cfg.type] as Loader<SinkConfig, Sink, SinkContext>;
  return (await load())(cfg, ctx);
}
