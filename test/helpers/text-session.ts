import net from 'node:net';

/**
 * A persistent text-protocol connection for differential tests: each `send` appends `mn` and
 * resolves with the bytes answered before the matching `MN` (or what came before a close).
 */
export class TextSession {
  private readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    this.socket.on('error', () => {});
  }

  static async open(port: number): Promise<TextSession> {
    const s = new TextSession(port);
    await new Promise<void>((resolve, reject) => {
      s.socket.once('connect', () => resolve());
      s.socket.once('error', reject);
    });
    return s;
  }

  /** Send a request and collect its reply. A reply that never completes ends after `timeoutMs`. */
  async send(request: Buffer | string, timeoutMs = 3000): Promise<{ reply: Buffer; closed: boolean; timedOut: boolean }> {
    if (this.closed) return { reply: Buffer.alloc(0), closed: true, timedOut: false };
    this.socket.write(Buffer.concat([Buffer.from(request), Buffer.from('mn\r\n')]));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buf.indexOf('MN\r\n');
      if (end >= 0 && (end === 0 || this.buf[end - 1] === 10)) {
        const reply = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end + 4);
        return { reply, closed: false, timedOut: false };
      }
      if (this.closed) {
        const reply = this.buf;
        this.buf = Buffer.alloc(0);
        return { reply, closed: true, timedOut: false };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const reply = this.buf;
        this.buf = Buffer.alloc(0);
        return { reply, closed: false, timedOut: true };
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Replace CAS values by their order of first appearance (c#1, c#2, ...), so replies of two
 * servers whose CAS counters start at different numbers compare equal when they agree on
 * which items share or change a CAS.
 */
export class CasNormalizer {
  private readonly ids = new Map<string, number>();
  last = '';

  private id(cas: string): string {
    this.last = cas;
    let n = this.ids.get(cas);
    if (n === undefined) {
      n = this.ids.size + 1;
      this.ids.set(cas, n);
    }
    return `#${n}`;
  }

  normalize(reply: Buffer): string {
    const text = reply.toString('latin1');
    return text
      .replace(/^(VALUE \S+ \d+ \d+) (\d+)\r$/gm, (_, head: string, cas: string) => `${head} ${this.id(cas)}\r`)
      .replace(/^((?:VA|HD|EN|NF|NS|EX)\b[^\r\n]*)$/gm, (line: string) => line.replace(/ c(\d+)/g, (_m, cas: string) => ` c${this.id(cas)}`))
      .replace(/ cas=(\d+)/g, (_m, cas: string) => ` cas=${this.id(cas)}`);
  }
}

/** Send one request on a fresh connection and return the reply's text (the connection is closed). */
export async function ask(port: number, request: string): Promise<string> {
  const s = await TextSession.open(port);
  try {
    return (await s.send(request)).reply.toString('latin1');
  } finally {
    s.close();
  }
}
