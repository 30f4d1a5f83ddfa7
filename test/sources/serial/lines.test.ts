import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineSplitter } from "../../../agent/sources/serial/lines.js";

function run(chunks: Buffer[], max: number) {
  const lines: string[] = [];
  let tooLarge = 0;
  const s = new LineSplitter(max, {
    line: (b) => lines.push(b.toString("latin1")),
    tooLarge: () => tooLarge++,
  });
  for (const c of chunks) s.push(c);
  return { lines, tooLarge };
}

/** The reference: split the whole stream at LF, drop one trailing CR, drop the unterminated tail. */
function reference(stream: string, max: number) {
  const parts = stream.split("\n");
  parts.pop();
  const lines: string[] = [];
  let tooLarge = 0;
  for (const p of parts) {
    const l = p.endsWith("\r") ? p.slice(0, -1) : p;
    if (l.length > max) tooLarge++;
    else if (l.length > 0) lines.push(l);
  }
  return { lines, tooLarge };
}

describe("LineSplitter", () => {
  it("matches a whole-stream split however the bytes are chunked", () => {
    const byte = fc.constantFrom(0x0a, 0x0d, 0x41, 0x00, 0xff, 0x7b);
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))),
        fc.array(fc.array(byte, { maxLength: 30 }).map((a) => Buffer.from(a))),
        fc.integer({ min: 1, max: 24 }),
        (randomChunks, biasedChunks, max) => {
          const chunks = [...randomChunks, ...biasedChunks];
          const stream = Buffer.concat(chunks).toString("latin1");
          expect(run(chunks, max)).toEqual(reference(stream, max));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("never holds more than the limit while skipping an endless line", () => {
    const s = new LineSplitter(16, { line: () => {}, tooLarge: () => {} });
    for (let i = 0; i < 1000; i++) s.push(Buffer.alloc(1024, 0x41));
    expect((s as unknown as { size: number }).size).toBe(0);
  });

  it("forgets a partial line on reset", () => {
    const lines: string[] = [];
    const s = new LineSplitter(100, { line: (b) => lines.push(b.toString()), tooLarge: () => {} });
    s.push(Buffer.from("half a li"));
    s.reset();
    s.push(Buffer.from("whole\r\n"));
    expect(lines).toEqual(["whole"]);
  });
});
