import { CREDS } from "./helpers.js";

/**
 * The config of an agent that takes room thermometers' MQTT readings on its embedded broker
 * (`sensors/<room>/<sensor>/temperature`, sensor id `<room>/<sensor>`) and ships them to a
 * kinesalite stream, as the Kinesis end-to-end tests run it (in process or as `edgespool run`).
 * `sink` adds to or overrides the Kinesis sink's settings.
 */
export function roomsToKinesisConfig(o: {
  agentId: string;
  dataDir: string;
  port: number;
  stream: string;
  endpoint: string;
  sink?: Record<string, unknown>;
}) {
  return {
    agentId: o.agentId,
    dataDir: o.dataDir,
    sources: [
      {
        type: "mqtt-broker",
        id: "mqtt",
        port: o.port,
        topics: ["sensors/#"],
        topicTemplate: "sensors/{room}/{sensor}/temperature",
        sensor: "{room}/{sensor}",
      },
    ],
    sinks: [
      {
        type: "kinesis",
        id: "kinesis",
        stream: o.stream,
        endpoint: o.endpoint,
        region: "us-east-1",
        ...CREDS,
        maxBufferAgeMs: 50,
        ...o.sink,
      },
    ],
    http: { enabled: false },
  };
}
