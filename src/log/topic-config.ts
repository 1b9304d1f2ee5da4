import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { topicNameProblem } from './subjects.js';

/** A topic as stored in the metadata store under `log/topics/<name>` (JSON). */
export interface TopicConfig {
  name: string;
  partitions: number;
  /** Copies of each partition (1: no replication). */
  replicas: number;
  /** Node ids holding each partition; the first is the preferred leader. */
  assignment: string[][];
  /** Keep at least the latest record per key (compaction) instead of deleting old segments. */
  compact: boolean;
  /** Delete sealed segments older than this (0: keep). Ignored when compacting. */
  retentionMs: number;
  /** Delete the oldest sealed segments while the partition is larger than this (0: no limit). */
  retentionBytes: number;
  segmentBytes: number;
  /** How long compaction keeps a tombstone (a record with a key and no value). */
  tombstoneRetentionMs: number;
}

export interface TopicDefaults {
  partitions: number;
  replicas: number;
  retentionMs: number;
  retentionBytes: number;
  segmentBytes: number;
  tombstoneRetentionMs: number;
}

export const MAX_PARTITIONS = 1024;

/** What a client may ask for when creating a topic. */
export type TopicRequest = Partial<Omit<TopicConfig, 'assignment'>> & { name: string };

export function resolveTopicRequest(req: TopicRequest, defaults: TopicDefaults, allowInternal = false): Omit<TopicConfig, 'assignment'> {
  const bad = (msg: string) => new RpcError(RpcCode.invalid, msg);
  const problem = topicNameProblem(req.name, allowInternal);
  if (problem) throw bad(problem);
  const int = (v: unknown, name: string, min: number, max: number, dflt: number): number => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return v;
  };
  if (req.compact !== undefined && typeof req.compact !== 'boolean') throw bad('compact must be true or false');
  return {
    name: req.name,
    partitions: int(req.partitions, 'partitions', 1, MAX_PARTITIONS, defaults.partitions),
    replicas: int(req.replicas, 'replicas', 1, 7, defaults.replicas),
    compact: req.compact ?? false,
    retentionMs: int(req.retentionMs, 'retentionMs', 0, Number.MAX_SAFE_INTEGER, defaults.retentionMs),
    retentionBytes: int(req.retentionBytes, 'retentionBytes', 0, Number.MAX_SAFE_INTEGER, defaults.retentionBytes),
    segmentBytes: int(req.segmentBytes, 'segmentBytes', 4096, 2 ** 31, defaults.segmentBytes),
    tombstoneRetentionMs: int(req.tombstoneRetentionMs, 'tombstoneRetentionMs', 0, Number.MAX_SAFE_INTEGER, defaults.tombstoneRetentionMs),
  };
}

/** Spread partitions' replicas over nodes round robin, starting one further for each partition. */
export function assignReplicas(partitions: number, replicas: number, nodes: string[]): string[][] {
  const sorted = [...nodes].sort();
  if (sorted.length < replicas) {
    throw new RpcError(RpcCode.tryLater, `${replicas} replicas asked for but only ${sorted.length} broker node(s) are up`);
  }
  const out: string[][] = [];
  for (let p = 0; p < partitions; p++) {
    const set: string[] = [];
    for (let r = 0; r < replicas; r++) set.push(sorted[(p + r) % sorted.length]);
    out.push(set);
  }
  return out;
}
