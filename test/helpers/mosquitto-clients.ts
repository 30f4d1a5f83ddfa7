import { execFile, spawnSync } from "node:child_process";

/** mosquitto_pub / mosquitto_sub (Debian's mosquitto-clients) as independent MQTT clients. */
export const haveMosquittoClients =
  spawnSync("sh", ["-c", "command -v mosquitto_pub && command -v mosquitto_sub"]).status === 0;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a mosquitto client to completion (it is killed after `timeoutMs`); never rejects. */
export function runMosquittoClient(
  bin: "mosquitto_pub" | "mosquitto_sub",
  args: string[],
  timeoutMs = 15_000,
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `-h 127.0.0.1 -p port -V mqttv311` plus, when given, username, password and client id. */
export function mosquittoArgs(port: number, o: { user?: string; pass?: string; id?: string } = {}): string[] {
  return [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-V",
    "mqttv311",
    ...(o.user === undefined ? [] : ["-u", o.user]),
    ...(o.pass === undefined ? [] : ["-P", o.pass]),
    ...(o.id === undefined ? [] : ["-i", o.id]),
  ];
}
