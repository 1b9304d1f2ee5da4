import { startLogNode, type LogNode, type LogNodeOptions } from './log-node.js';

export type BrokerProcess = LogNode;

/**
 * One log broker (`strata server` with only the log service) as its own process, which can be
 * killed and started again on the same port and data directory. Its membership lease is short,
 * so nothing waits long for a previous run's registration.
 */
export function startBroker(opts: Omit<LogNodeOptions, 'nodeId' | 'etcd'>): Promise<BrokerProcess> {
  return startLogNode({ ...opts, args: ['--log-session-ttl-ms', '1000', ...(opts.args ?? [])] });
}
