/** Run memcaslap (libmemcached-tools' memaslap) against one server and parse what it prints. */
import { spawnTracked, waitExit, stopChild, childrenCpuSeconds, cpuSeconds } from './procs.js';

export interface MemcaslapOptions {
  port: number;
  serverPid: number;
  threads: number;
  concurrency: number;
  seconds: number;
  /** -X: fixed value size; memcaslap's own default distribution when absent. */
  valueSize?: number;
  /** -w: keys per concurrency window (default 10k). */
  window?: string;
  /** -d: keys per multiget (1 = single get). */
  division?: number;
}

export interface MemcaslapResult {
  args: string[];
  /** memcaslap's TPS: gets count once per key, so with -d 10 this is keys/s. */
  tps: number;
  ops: number;
  runSeconds: number;
  cmdGet: number;
  cmdSet: number;
  getMisses: number;
  errorLines: number;
  serverCpuS: number;
  clientCpuS: number;
  failure?: string;
}

const num = (text: string, re: RegExp): number => {
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
};

export async function runMemcaslap(o: MemcaslapOptions): Promise<MemcaslapResult> {
  const args = ['-s', `127.0.0.1:${o.port}`, '-T', String(o.threads), '-c', String(o.concurrency), '-t', `${o.seconds}s`];
  if (o.valueSize) args.push('-X', String(o.valueSize));
  if (o.window) args.push('-w', o.window);
  if (o.division && o.division > 1) args.push('-d', String(o.division));

  const serverCpu0 = cpuSeconds(o.serverPid);
  const clientCpu0 = childrenCpuSeconds();
  const child = spawnTracked('memcaslap', args);
  let out = '';
  let errorLines = 0;
  const collect = (d: Buffer) => {
    const text = d.toString('latin1');
    for (const line of text.split('\n')) if (line.startsWith('<') || /ERROR/.test(line)) errorLines++;
    out = (out + text).slice(-8000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let failure: string | undefined;
  if (!(await waitExit(child, (o.seconds + 30) * 1000))) {
    failure = `memcaslap did not finish ${o.seconds + 30} s after a ${o.seconds} s run; killed`;
    await stopChild(child, 500);
  } else if (child.exitCode !== 0) {
    failure = `memcaslap exited with ${child.exitCode ?? child.signalCode}: ${out.slice(-300)}`;
  }
  const serverCpuS = cpuSeconds(o.serverPid) - serverCpu0;
  const clientCpuS = childrenCpuSeconds() - clientCpu0;
  const tps = num(out, /TPS: (\d+)/);
  if (!failure && !Number.isFinite(tps)) failure = `no TPS in memcaslap output: ${out.slice(-300)}`;
  return {
    args,
    tps,
    ops: num(out, /Ops: (\d+)/),
    runSeconds: num(out, /Run time: ([\d.]+)s/),
    cmdGet: num(out, /cmd_get: (\d+)/),
    cmdSet: num(out, /cmd_set: (\d+)/),
    getMisses: num(out, /get_misses: (\d+)/),
    errorLines,
    serverCpuS,
    clientCpuS,
    failure,
  };
}
