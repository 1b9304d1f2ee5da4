import type { RpcConnection, RpcMethod } from '../net/rpc-server.js';
import type { Broker } from './broker.js';
import type { GroupCoordinator, JoinRequest } from './group-coordinator.js';
import {
  LogMethod,
  decodeFetch,
  decodeGroupFetch,
  decodeJson,
  decodeListOffsets,
  decodeOffsetLists,
  decodeProduce,
  decodeReplicaFetch,
  encodeChunks,
  encodeFetchReply,
  encodeJson,
  encodeProduceReply,
} from './protocol.js';
import type { TopicRequest } from './topic-config.js';
import type { Replication } from './replication.js';
import { BufferWriter } from '../core/bytes.js';

const MAX_FETCH_BYTES = 16 * 1024 * 1024;
const MAX_WAIT_MS = 60_000;

/** The log service's RPC methods (docs/log.md, "Protocol"). */
export function logMethods(broker: Broker, groups: GroupCoordinator, replication: Replication): Map<number, RpcMethod> {
  const m = new Map<number, RpcMethod>();

  m.set(LogMethod.metadata, async (payload) => {
    const req = payload.length ? decodeJson<{ topics?: unknown; create?: unknown }>(payload, 'metadata request') : {};
    const topics = Array.isArray(req.topics) ? req.topics.filter((t): t is string => typeof t === 'string') : undefined;
    // A producer about to publish to a topic it does not know: created here where the broker would on first publish.
    if (req.create === true && topics) await broker.autoCreate(topics);
    return encodeJson(broker.metadata(topics));
  });

  m.set(LogMethod.createTopic, async (payload) => encodeJson(await broker.createTopic(decodeJson<TopicRequest>(payload, 'create topic request'))));

  m.set(LogMethod.deleteTopic, async (payload) => {
    const { name } = decodeJson<{ name: string }>(payload, 'delete topic request');
    broker.topicConfig(name);
    return encodeJson({ deleted: await broker.deleteTopic(name) });
  });

  // Decoding and the append happen before the first await, so appends keep arrival order.
  m.set(LogMethod.produce, (payload) => broker.produce(decodeProduce(payload)).then(encodeProduceReply));

  m.set(LogMethod.fetch, withReplyBytes(async (payload) => {
    const req = decodeFetch(payload);
    req.maxBytes = Math.min(req.maxBytes, MAX_FETCH_BYTES);
    req.maxWaitMs = Math.min(req.maxWaitMs, MAX_WAIT_MS);
    return encodeFetchReply(await broker.fetch(req));
  }, (payload) => decodeFetch(payload).maxBytes));

  m.set(LogMethod.listOffsets, (payload) => {
    const req = decodeListOffsets(payload);
    return new BufferWriter(8).u64(broker.listOffsets(req.topic, req.partition, req.spec)).view();
  });

  m.set(LogMethod.groupJoin, async (payload, conn: RpcConnection) => {
    const req = decodeJson<JoinRequest>(payload, 'group join request');
    const { member, group } = await groups.join(req);
    // A member whose connection closes leaves at once (its records go to the others).
    conn.onClose(() => void groups.leave(req.group, member).catch(() => {}));
    return encodeJson({ member, generation: group.generation, assignment: group.assignment(member) });
  });

  m.set(LogMethod.groupFetch, withReplyBytes(async (payload) => {
    const req = decodeGroupFetch(payload);
    const chunks = await groups.fetch(req.group, req.member, req.maxRecords, Math.min(req.maxBytes, MAX_FETCH_BYTES), Math.min(req.maxWaitMs, MAX_WAIT_MS));
    return encodeChunks(chunks);
  }, (payload) => decodeGroupFetch(payload).maxBytes));

  m.set(LogMethod.groupAck, async (payload) => {
    const req = decodeOffsetLists(payload);
    const g = await groups.existing(req.group);
    if (g.members.has(req.member)) g.member(req.member);
    for (const l of req.lists) g.ack(l.topic, l.partition, l.offsets);
  });

  m.set(LogMethod.groupRelease, async (payload) => {
    const req = decodeOffsetLists(payload);
    const g = await groups.existing(req.group);
    for (const l of req.lists) g.release(l.topic, l.partition, l.offsets);
  });

  m.set(LogMethod.groupLeave, async (payload) => {
    const req = decodeJson<{ group: string; member: string }>(payload, 'group leave request');
    await groups.leave(req.group, req.member);
  });

  m.set(LogMethod.groupHeartbeat, async (payload) => {
    const req = decodeJson<{ group: string; member: string }>(payload, 'heartbeat');
    const g = await groups.existing(req.group);
    return encodeJson({ generation: g.generation, assignment: g.assignment(req.member) });
  });

  m.set(LogMethod.replicaFetch, withReplyBytes(async (payload) => {
    const req = decodeReplicaFetch(payload);
    req.maxBytes = Math.min(req.maxBytes, MAX_FETCH_BYTES);
    return encodeFetchReply(await replication.replicaFetch(req));
  }, (payload) => decodeReplicaFetch(payload).maxBytes));

  return m;
}


/** A fetch-like method reserves its reply's size while it runs (the RPC server's memory bound). */
function withReplyBytes(method: RpcMethod, maxBytes: (payload: Buffer) => number): RpcMethod {
  method.replyBytes = (payload) => Math.min(maxBytes(payload), MAX_FETCH_BYTES) + 1024;
  return method;
}
