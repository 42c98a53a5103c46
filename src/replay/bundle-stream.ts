import { hex } from "./bundle-format";

/**
 * Writes a bundle as a byte stream, a chunk at a time, and its checksum last: SHA-256 of the canonical
 * content (the bundle without its checksum, as `JSON.stringify` writes it), hashed as it is sent. The
 * bytes sent carry a newline before each member and each list item — so a bundle diffs line by line —
 * which the canonical content does not: the writer keeps the two apart.
 *
 * `write` is a generator over a BundleWriter: each `yield` ends a chunk, so the next page is read from
 * storage only when the reader asks for more.
 */
export class BundleStream {
  readonly readable: ReadableStream<Uint8Array>;

  constructor(write: (out: BundleWriter) => Generator<void, void, void>) {
    const out = new BundleWriter();
    const steps = write(out);
    const digest = new crypto.DigestStream("SHA-256");
    const hashing = digest.getWriter();
    const encoder = new TextEncoder();
    const send = async (controller: ReadableByteStreamController, output: string, content: string) => {
      if (content) await hashing.write(encoder.encode(content));
      if (output) controller.enqueue(encoder.encode(output));
    };
    this.readable = new ReadableStream({
      type: "bytes",
      async pull(controller) {
        const step = steps.next();
        const { output, content } = out.take();
        if (!step.done) return send(controller, output, content);
        // The content ends with the bundle's closing brace; the checksum member follows it in the bytes sent.
        await send(controller, output, `${content}}`);
        await hashing.close();
        const sum = hex(new Uint8Array(await digest.digest));
        controller.enqueue(encoder.encode(`,\n"checksum":"sha256:${sum}"}\n`));
        controller.close();
      },
      cancel(reason) {
        steps.return();
        void hashing.abort(reason);
      },
    });
  }
}

/** JSON pieces in order: what is sent (with line breaks) and what is hashed (without). */
export class BundleWriter {
  private output = "";
  private content = "";
  private started = false;
  private firstItem = true;

  /** Members on the bundle's first line (the first call opens the bundle). */
  head(fields: Record<string, unknown>): void {
    const json = JSON.stringify(fields);
    this.put(this.started ? `,${json.slice(1, -1)}` : json.slice(0, -1));
    this.started = true;
  }

  /** A member on a line of its own, its value already JSON. */
  member(key: string, json: string): void {
    this.put(",");
    this.newline();
    this.put(`${JSON.stringify(key)}:${json}`);
  }

  /** A member whose list is written one item per line: `open` is its JSON up to the list's `[`. */
  list(key: string, open = "["): void {
    this.member(key, open);
    this.firstItem = true;
  }

  item(value: unknown): void {
    if (!this.firstItem) this.put(",");
    this.firstItem = false;
    this.newline();
    this.put(JSON.stringify(value));
  }

  /** Closes the list (and whatever `open` opened around it). */
  endList(close = "]"): void {
    this.put(close);
  }

  /** What was written since the last call. */
  take(): { output: string; content: string } {
    const taken = { output: this.output, content: this.content };
    this.output = "";
    this.content = "";
    return taken;
  }

  private put(json: string): void {
    this.output += json;
    this.content += json;
  }

  private newline(): void {
    this.output += "\n";
  }
}
