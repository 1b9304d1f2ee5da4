import { matchesPattern } from './subjects.js';

export interface PartitionRef {
  topic: string;
  partition: number;
}

export const partitionKey = (topic: string, partition: number): string => `${topic}/${partition}`;

/**
 * Spread the partitions of the topics members subscribe to over the members: each partition to
 * exactly one member whose patterns match its topic, the least loaded (ties by member id), in
 * topic and partition order. Deterministic for the same members and topics.
 */
export function assignPartitions(
  members: Array<{ id: string; patterns: string[] }>,
  topics: Array<{ name: string; partitions: number }>,
): Map<string, PartitionRef[]> {
  const sortedMembers = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out = new Map<string, PartitionRef[]>();
  for (const m of sortedMembers) out.set(m.id, []);
  const sortedTopics = [...topics].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const t of sortedTopics) {
    const eligible = sortedMembers.filter((m) => m.patterns.some((p) => matchesPattern(p, t.name)));
    if (eligible.length === 0) continue;
    for (let p = 0; p < t.partitions; p++) {
      let best = eligible[0];
      for (const m of eligible) if (out.get(m.id)!.length < out.get(best.id)!.length) best = m;
      out.get(best.id)!.push({ topic: t.name, partition: p });
    }
  }
  return out;
}
