import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The external programs some tests drive, and the Debian package that has each. */
const PACKAGES = {
  mosquitto: "mosquitto",
  openssl: "openssl",
  chattr: "e2fsprogs",
  socat: "socat",
  chromium: "chromium",
} as const;

export type Tool = keyof typeof PACKAGES;

/** CI sets CI=true; there a test that cannot run is a failure, never a quiet skip. */
export function inCI(): boolean {
  return /^(true|1)$/i.test(process.env.CI ?? "");
}

/** Where the program is (sbin folders included: Debian puts mosquitto there), or undefined. */
export function toolPath(name: Tool): string | undefined {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"])
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  const found = spawnSync("sh", ["-c", `command -v ${name}`])
    .stdout?.toString()
    .trim();
  return found ? found : undefined;
}

/**
 * Whether the tests that need `name` can run, for `describe.skipIf(!haveTool(…))`. A missing tool
 * throws under CI=true, so the test file fails and CI goes red instead of green-without-running;
 * elsewhere it is one warning and a skip.
 */
export function haveTool(name: Tool, what: string): boolean {
  if (toolPath(name) !== undefined) return true;
  const msg = `${name} is not installed, so ${what} cannot run (apt-get install -y ${PACKAGES[name]})`;
  if (inCI()) throw new Error(`${msg}; CI=true requires every test to run`);
  console.warn(`${msg}: skipped`);
  return false;
}
