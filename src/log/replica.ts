import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { Lease, MetadataStore } from '../cluster/metadata-store.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { checkFrame, frameOffset } from '../storage/record.js';
import { EpochCache, truncationPoint, type PartitionState } from './epochs.js';
import type { Partition } from './partition.js';
import type { PeerPool } from '../net/peer-pool.js';
import { LogMethod, decodeFetchReply, encodeReplicaFetch, type FetchReply, type ReplicaFetchRequest } from './protocol.js';
import type { TopicConfig } from './topic-config.js';
import type { ReplicationOptions } from './replication.js';

export interface ReplicaContext {
  nodeId: string;
  store: MetadataStore;
  lease: Lease;
  clock: Clock;
  log: Logger;
  opts: ReplicationOptions;
  peers: PeerPool;
  leaderKey: string;
  stateKey: string;
  leader(): { node: string; epoch: number } | null;
  state(): PartitionState | null;
  isAlive(node: string): boolean;
  closed(): boolean;
}

const FETCH_BYTES = 1024 * 1024;
const FETCH_WAIT_MS = 500;

/**
 * This node's copy of one replicated partition, as leader or follower. The leader serves
 * followers' fetches, tracks how far each got, keeps the in-sync set (ISR) in the state key and
 * moves the high watermark to the lowest end offset in the ISR. A follower cuts its log back to
 * where it agrees with the new leader's history, then pulls.
 */
export class Replica {
  private readonly epochs: EpochCache;
  private following: { node: string; epoch: number } | null = null;
  private campaigning = false;
  private stopped = false;
  /** Leader side: the ISR as last written, each follower's end offset, when it was last caught up. */
  private isr: string[] = [];
  private readonly followerEnd = new Map<string, number>();
  private readonly caughtUpAt = new Map<string, number>();
  private readonly endAtLastFetch = new Map<string, number>();
  private stateWrites: Promise<void> = Promise.resolve();

  constructor(
    readonly partition: Partition,
    private readonly cfg: TopicConfig,
    private readonly ctx: ReplicaContext,
  ) {
    this.epochs = new EpochCache(partition.log.dir);
    partition.role = 'follower';
    // What this copy holds past its start is not known to be committed until the ISR says so:
    // a restarted replica shows nothing new to consumers until its leader's high watermark does.
    partition.highWatermark = partition.log.startOffset;
    partition.replicated = () => this.updateHighWatermark();
    partition.enoughReplicas = () => partition.role === 'leader' && this.isr.length >= Math.min(ctx.opts.minInsync, cfg.replicas);
  }

  leaseLost(): void {
    if (this.partition.role === 'leader') this.stepDown('membership lease lost');
  }

  private get me(): string {
    return this.ctx.nodeId;
  }

  private get replicas(): string[] {
    return this.cfg.assignment[this.partition.index];
  }

  /** The leader key, the state key or the membership changed: act on what they say now. */
  changed(): void {
    if (this.stopped || this.ctx.closed()) return;
    const leader = this.ctx.leader();
    const state = this.ctx.state();
    if (!leader) {
      if (this.partition.role === 'leader') this.stepDown('leader key gone');
      this.following = null;
      void this.campaign();
      return;
    }
    if (leader.node === this.me) {
      if (this.partition.role === 'leader') this.shrinkIsr((n) => !this.ctx.isAlive(n), 'node gone');
      return;
    }
    if (this.partition.role === 'leader') this.stepDown(`${leader.node} leads epoch ${leader.epoch}`);
    // Follow only once the leader's state (its epoch history) is written.
    if (!state || state.epoch !== leader.epoch || state.leader !== leader.node) return;
    if (this.following && this.following.node === leader.node && this.following.epoch === leader.epoch) return;
    this.follow(leader, state);
  }

  // ---- election ----

  private async campaign(): Promise<void> {
    if (this.campaigning || this.stopped || this.ctx.lease.isLost) return;
    const state = this.ctx.state();
    const eligible = state ? state.isr.includes(this.me) : this.replicas.includes(this.me);
    if (!eligible) return;
    this.campaigning = true;
    try {
      // The preferred leader (first replica) goes first; the others give it a moment.
      const rank = state ? state.isr.indexOf(this.me) : this.replicas.indexOf(this.me);
      if (rank > 0) await new Promise((r) => setTimeout(r, 150 * rank));
      if (this.ctx.leader() || this.stopped) return;
      const epoch = (state?.epoch ?? 0) + 1;
      const won = await this.ctx.store.putIf(this.ctx.leaderKey, JSON.stringify({ node: this.me, epoch }), 0, { lease: this.ctx.lease });
      if (won) await this.becomeLeader(epoch);
    } catch (err) {
      this.ctx.log.warn('election attempt failed', { err: String((err as Error).message ?? err) });
    } finally {
      this.campaigning = false;
    }
  }

  private async becomeLeader(epoch: number): Promise<void> {
    const kv = await this.ctx.store.get(this.ctx.stateKey);
    const prev = kv ? (JSON.parse(kv.value.toString()) as PartitionState) : null;
    if (prev && prev.epoch >= epoch) {
      await this.resign(`state already at epoch ${prev.epoch}`);
      return;
    }
    const end = this.partition.endOffset;
    const isr = (prev?.isr ?? this.replicas).filter((n) => n === this.me || (n !== prev?.leader && this.ctx.isAlive(n)));
    if (!isr.includes(this.me)) isr.unshift(this.me);
    const state: PartitionState = { epoch, leader: this.me, isr, epochs: [...(prev?.epochs ?? []), [epoch, end]] };
    if (!(await this.ctx.store.putIf(this.ctx.stateKey, JSON.stringify(state), kv?.modRevision ?? 0))) {
      await this.resign('state changed during the election');
      return;
    }
    this.following = null;
    this.epochs.note(epoch, end);
    this.isr = isr;
    this.followerEnd.clear();
    this.endAtLastFetch.clear();
    const now = this.ctx.clock.nowMs();
    for (const n of isr) this.caughtUpAt.set(n, now);
    this.partition.epoch = epoch;
    this.partition.role = 'leader';
    this.ctx.log.info('partition leader elected', { node: this.me, epoch, end, isr });
    this.updateHighWatermark();
  }

  private async resign(why: string): Promise<void> {
    this.ctx.log.warn('giving up leadership', { why });
    const kv = await this.ctx.store.get(this.ctx.leaderKey);
    if (kv && kv.lease === this.ctx.lease.id) await this.ctx.store.deleteIf(this.ctx.leaderKey, kv.modRevision);
  }

  private stepDown(why: string): void {
    this.ctx.log.info('partition leader stepping down', { why, epoch: this.partition.epoch });
    this.partition.role = 'follower';
    this.isr = [];
    this.partition.failWaiters(new RpcError(RpcCode.notLeader, `${this.partition.topic}/${this.partition.index}: leadership moved (${why})`));
  }

  // ---- following ----

  private follow(leader: { node: string; epoch: number }, state: PartitionState): void {
    const end = this.partition.endOffset;
    const cut = truncationPoint(this.epochs.entries, state.epochs, end);
    if (cut < end) {
      this.ctx.log.info('follower cutting records its new leader does not have', { from: cut, to: end, epoch: leader.epoch });
      this.partition.log.truncateTo(cut);
      this.epochs.truncate(cut);
    }
    if (this.partition.highWatermark > this.partition.endOffset) {
      this.ctx.log.error('truncation went below the high watermark', { hw: this.partition.highWatermark, end: this.partition.endOffset });
      this.partition.highWatermark = this.partition.endOffset;
    }
    this.following = leader;
    void this.pull(leader);
  }

  private async pull(leader: { node: string; epoch: number }): Promise<void> {
    const p = this.partition;
    let backoff = 50;
    while (!this.stopped && !this.ctx.closed() && this.following === leader) {
      try {
        const rpc = await this.ctx.peers.get(leader.node);
        const req: ReplicaFetchRequest = { topic: p.topic, partition: p.index, follower: this.me, epoch: leader.epoch, offset: p.endOffset, maxBytes: FETCH_BYTES, maxWaitMs: FETCH_WAIT_MS };
        const reply = decodeFetchReply(await rpc.call(LogMethod.replicaFetch, encodeReplicaFetch(req), FETCH_WAIT_MS + 5000));
        if (this.following !== leader) return;
        this.appendFromLeader(reply, leader.epoch);
        backoff = 50;
      } catch (err) {
        if (this.following !== leader) return;
        if (!(err instanceof RpcError)) this.ctx.log.warn('follower fetch failed', { leader: leader.node, err: String((err as Error).message ?? err) });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 1000);
      }
    }
  }

  private appendFromLeader(reply: FetchReply, epoch: number): void {
    const p = this.partition;
    if (p.endOffset < reply.startOffset) p.log.resetTo(reply.startOffset); // retention on the leader moved past us
    const frames = reply.frames;
    if (frames.length > 0) {
      let pos = 0;
      while (pos < frames.length) {
        const size = checkFrame(frames, pos, frames.length);
        if (size === 0) throw new Error(`bad frame from the leader at byte ${pos}`);
        pos += size;
      }
      const first = frameOffset(frames, 0);
      if (first < p.endOffset) throw new Error(`leader sent offset ${first}, expected ${p.endOffset} or later`);
      this.epochs.note(epoch, first);
      p.log.appendFrames(frames, 'none').catch(() => {});
    }
    p.advanceHighWatermark(Math.min(reply.highWatermark, p.endOffset));
  }

  // ---- leading ----

  /** A follower's fetch: note how far it is, maybe take it into the ISR, answer with what follows. */
  async serveFetch(req: ReplicaFetchRequest): Promise<FetchReply> {
    const p = this.partition;
    if (p.role !== 'leader' || req.epoch !== p.epoch) throw new RpcError(RpcCode.notLeader, `${p.topic}/${p.index}: not the leader of epoch ${req.epoch} (this node: ${p.role}, epoch ${p.epoch})`);
    if (!this.replicas.includes(req.follower) || req.follower === this.me) throw new RpcError(RpcCode.invalid, `${req.follower} is not a follower of ${p.topic}/${p.index}`);
    if (req.offset > p.endOffset) throw new RpcError(RpcCode.invalid, `follower ${req.follower} is at ${req.offset}, past the leader's end ${p.endOffset}`);
    const now = this.ctx.clock.nowMs();
    this.followerEnd.set(req.follower, req.offset);
    if (req.offset >= (this.endAtLastFetch.get(req.follower) ?? Infinity) || req.offset >= p.endOffset) this.caughtUpAt.set(req.follower, now);
    if (!this.isr.includes(req.follower) && req.offset >= p.highWatermark && req.offset >= p.endOffset) {
      this.writeIsr([...this.isr, req.follower], `${req.follower} caught up`);
    }
    this.updateHighWatermark();
    if (req.offset >= p.endOffset && req.maxWaitMs > 0) await this.waitForAppend(Math.min(req.maxWaitMs, FETCH_WAIT_MS));
    if (p.role !== 'leader') throw new RpcError(RpcCode.notLeader, `${p.topic}/${p.index}: leadership moved`);
    const got = req.offset < p.endOffset ? p.log.read(req.offset, req.maxBytes) : { bytes: Buffer.alloc(0), next: req.offset };
    // Caught up next time if the follower then fetches from where the leader's log ends now.
    this.endAtLastFetch.set(req.follower, p.endOffset);
    return { highWatermark: p.highWatermark, startOffset: p.log.startOffset, next: got.next, frames: got.bytes };
  }

  private waitForAppend(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.partition.appendListeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.partition.appendListeners.add(done);
    });
  }

  /** Leader: the high watermark is the lowest end offset among the in-sync replicas. */
  private updateHighWatermark(): void {
    const p = this.partition;
    if (p.role !== 'leader') return;
    let hw = p.endOffset;
    for (const n of this.isr) if (n !== this.me) hw = Math.min(hw, this.followerEnd.get(n) ?? 0);
    p.advanceHighWatermark(hw);
  }

  /** Leader, periodically: followers dead or lagging past lagTimeMs leave the ISR. */
  checkInSync(): void {
    if (this.partition.role !== 'leader') return;
    const now = this.ctx.clock.nowMs();
    this.shrinkIsr((n) => !this.ctx.isAlive(n) || now - (this.caughtUpAt.get(n) ?? 0) > this.ctx.opts.lagTimeMs, 'lagging');
  }

  private shrinkIsr(out: (node: string) => boolean, why: string): void {
    const keep = this.isr.filter((n) => n === this.me || !out(n));
    if (keep.length !== this.isr.length) this.writeIsr(keep, why);
  }

  private writeIsr(isr: string[], why: string): void {
    const epoch = this.partition.epoch;
    this.stateWrites = this.stateWrites.then(async () => {
      if (this.partition.role !== 'leader' || this.partition.epoch !== epoch) return;
      const kv = await this.ctx.store.get(this.ctx.stateKey);
      const state = kv ? (JSON.parse(kv.value.toString()) as PartitionState) : null;
      if (!kv || !state || state.leader !== this.me || state.epoch !== epoch) {
        this.stepDown('state key names another leader');
        return;
      }
      if (await this.ctx.store.putIf(this.ctx.stateKey, JSON.stringify({ ...state, isr }), kv.modRevision)) {
        this.ctx.log.info('in-sync replicas changed', { from: this.isr, to: isr, why });
        this.isr = isr;
        this.updateHighWatermark();
      }
    }).catch((err: unknown) => this.ctx.log.warn('could not write the in-sync replicas', { err: String((err as Error).message ?? err) }));
  }

  stop(): void {
    this.stopped = true;
    this.following = null;
  }
}
