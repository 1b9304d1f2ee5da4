import net from 'node:net';

/**
 * Send bytes on a fresh connection and collect everything the server answers until `done`
 * says the answer is complete, the server closes, or `timeoutMs` passes (a guard, not a wait).
 */
export function exchange(
  port: number,
  request: Buffer | string,
  done: (reply: Buffer) => boolean,
  timeoutMs = 3000,
): Promise<{ reply: Buffer; closed: boolean; timedOut: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect(port, '127.0.0.1');
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks), closed, timedOut });
    };
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    socket.on('data', (d) => {
      chunks.push(d);
      if (done(Buffer.concat(chunks))) finish(false, false);
    });
    socket.on('close', () => finish(true, false));
    socket.on('error', () => finish(true, false));
    socket.write(request);
  });
}

/** Text protocol: append `mn` and read until the `MN` that answers it. */
export async function textExchange(port: number, request: Buffer | string, timeoutMs = 3000) {
  const req = Buffer.concat([Buffer.from(request), Buffer.from('mn\r\n')]);
  const r = await exchange(port, req, (b) => b.length >= 4 && b.subarray(b.length - 4).toString() === 'MN\r\n', timeoutMs);
  const reply = r.reply.length >= 4 && r.reply.subarray(r.reply.length - 4).toString() === 'MN\r\n' ? r.reply.subarray(0, r.reply.length - 4) : r.reply;
  return { ...r, reply };
}
