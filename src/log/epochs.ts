import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';

/** [leader epoch, first offset written in it], in epoch order. */
export type EpochHistory = Array<[number, number]>;

/**
 * What a partition's state key holds (`log/state/<topic>/<partition>`), written by its leader:
 * the current epoch and leader, the in-sync replicas, and where every epoch began.
 */
export interface PartitionState {
  epoch: number;
  leader: string | null;
  isr: string[];
  epochs: EpochHistory;
}

/**
 * Where a replica must cut its log before following a leader: its records of epochs the cluster
 * no longer agrees with go. The replica's last epoch E ended where the first later epoch of the
 * cluster's history began (Kafka's leader-epoch truncation, KIP-101); records past that are from
 * a leader whose writes were never committed.
 */
export function truncationPoint(local: EpochHistory, cluster: EpochHistory, logEnd: number): number {
  if (local.length === 0) return logEnd === 0 ? 0 : (cluster[0]?.[1] ?? 0);
  const lastLocal = local[local.length - 1][0];
  const later = cluster.find(([epoch]) => epoch > lastLocal);
  return later ? Math.min(logEnd, later[1]) : logEnd;
}

/** A replica's own epoch history, kept next to its segments in `leader-epochs` (JSON). */
export class EpochCache {
  readonly entries: EpochHistory;
  private readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, 'leader-epochs');
    this.entries = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as EpochHistory) : [];
  }

  get last(): number {
    return this.entries.length ? this.entries[this.entries.length - 1][0] : -1;
  }

  /** Note that records from `startOffset` on come from `epoch` (no-op if already noted). */
  note(epoch: number, startOffset: number): void {
    if (epoch <= this.last) return;
    this.entries.push([epoch, startOffset]);
    this.save();
  }

  /** After truncating the log to `end`, forget epochs that began at or past it. */
  truncate(end: number): void {
    const before = this.entries.length;
    while (this.entries.length > 0 && this.entries[this.entries.length - 1][1] >= end) this.entries.pop();
    if (this.entries.length !== before) this.save();
  }

  private save(): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(this.entries));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
