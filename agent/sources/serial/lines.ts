/**
 * Splits a byte stream into lines at LF (a CR before it is dropped) and enforces a length limit
 * the stock ReadlineParser lacks: a line longer than `maxBytes` is reported once and discarded
 * up to the next newline, so a device spewing garbage without newlines cannot grow memory.
 */
export interface LineEvents {
  line(bytes: Buffer): void;
  tooLarge(bytesSeen: number): void;
}

const LF = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** Inside an over-long line: skip everything up to the next LF. */
  private skipping = false;
  private skipped = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly on: LineEvents,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(LF, start);
      const end = nl < 0 ? chunk.length : nl;
      this.take(chunk.subarray(start, end));
      if (nl < 0) return;
      this.endLine();
      start = nl + 1;
    }
  }

  /** Forgets a partial line, e.g. when the port closes mid-line. */
  reset(): void {
    this.parts = [];
    this.size = 0;
    this.skipping = false;
    this.skipped = 0;
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.skipping) {
      this.skipped += piece.length;
      return;
    }
    // One byte of slack for the CR of a CRLF line that is exactly maxBytes long.
    if (this.size + piece.length > this.maxBytes + 1) {
      this.skipping = true;
      this.skipped = this.size + piece.length;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(piece);
    this.size += piece.length;
  }

  private endLine(): void {
    if (this.skipping) {
      const seen = this.skipped;
      this.reset();
      this.on.tooLarge(seen);
      return;
    }
    let line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > this.maxBytes) {
      this.on.tooLarge(line.length);
      return;
    }
    if (line.length > 0) this.on.line(line);
  }
}
