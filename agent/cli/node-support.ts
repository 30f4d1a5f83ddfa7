/** The Node.js majors CI runs the whole suite on; `engines` in package.json says the same. */
export const SUPPORTED_NODE_MAJORS: readonly number[] = [20, 22, 24];

/** Supported majors that are past their end of life, with the date it happened. */
const END_OF_LIFE: Readonly<Record<number, string>> = { 20: "2026-04-30" };

/** One sentence about the running Node.js when it needs the user's attention, else undefined. */
export function nodeSupportNotice(version: string = process.version): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  const eol = END_OF_LIFE[major];
  if (eol !== undefined)
    return (
      `Node.js ${version} reached end of life on ${eol}: edgespool still runs on it, but it gets no ` +
      "security fixes and AWS SDK releases after early January 2027 need Node.js 22 or later; " +
      "install Node.js 24 LTS"
    );
  if (!SUPPORTED_NODE_MAJORS.includes(major))
    return `Node.js ${version} is not one edgespool is tested on (${SUPPORTED_NODE_MAJORS.join(", ")}); Node.js 24 LTS is recommended`;
  return undefined;
}

/**
 * Says once, at start and through `say` (the agent's log, or stderr for `consume`), when the
 * Node.js in use needs attention. The AWS SDK would otherwise print its own multi-line
 * NodeVersionSupportWarning on stderr in every process that creates a client: having said it
 * here, we switch that one off through the SDK's documented variable, unless the user set it.
 */
export function announceNodeSupport(say: (notice: string) => void, version: string = process.version): void {
  const notice = nodeSupportNotice(version);
  if (notice === undefined) return;
  say(notice);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
}
