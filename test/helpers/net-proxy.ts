import net from 'node:net';

/**
 * A TCP proxy standing for the network between two regions: it forwards to a target with a
 * one-way delay added in each direction, and can cut the link (a partition: data in either
 * direction is dropped while connections stay open, as across a broken WAN link; on healing,
 * the connections that lived through the cut are reset and new ones work).
 */
export class NetProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<{ a: net.Socket; b: net.Socket }>();
  delayMs = 0;
  private cutSince = 0;
  private generation = 0;
  port = 0;

  /** The target may be set after listening (so a test can take the proxies' ports before choosing free ports for the targets). */
  constructor(public target: { host: string; port: number }) {
    this.server = net.createServer((a) => this.accept(a));
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(a: net.Socket): void {
    const b = net.connect(this.target.port, this.target.host);
    const pair = { a, b };
    this.pairs.add(pair);
    const end = () => {
      a.destroy();
      b.destroy();
      this.pairs.delete(pair);
    };
    a.on('error', end).on('close', end);
    b.on('error', end).on('close', end);
    a.on('data', (d: Buffer) => this.pass(d, b));
    b.on('data', (d: Buffer) => this.pass(d, a));
  }

  private pass(d: Buffer, to: net.Socket): void {
    if (this.cutSince) return;
    if (this.delayMs <= 0) {
      to.write(d);
      return;
    }
    const gen = this.generation;
    setTimeout(() => {
      if (!this.cutSince && gen === this.generation && !to.destroyed) to.write(d);
    }, this.delayMs);
  }

  /** Drop everything from now on, until `heal`. */
  cut(): void {
    if (this.cutSince) return;
    this.cutSince = Date.now();
    this.generation++;
  }

  /** Restore the link; connections that were open during the cut are reset (their streams lost data). */
  heal(): void {
    if (!this.cutSince) return;
    this.cutSince = 0;
    for (const p of [...this.pairs]) {
      p.a.destroy();
      p.b.destroy();
      this.pairs.delete(p);
    }
  }

  /** Reset every connection (e.g. after the target restarted). */
  resetAll(): void {
    for (const p of [...this.pairs]) {
      p.a.destroy();
      p.b.destroy();
    }
  }

  async close(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
