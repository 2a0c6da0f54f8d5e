import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * node:diagnostics_channel channels. Publishing costs nothing when nobody subscribes (checked with
 * hasSubscribers first); APM tools and tests subscribe by name.
 *
 * - `pgforkguard:fork`        { role: 'parent' | 'child', pid, parentPid, childPid?, generation, timings? }
 * - `pgforkguard:pool:reset`  { pool, pid, generation, dropped, idle, connecting, checkedOut, refused }
 * - `pgforkguard:client:drop` { name, pool, ownerPid, currentPid, fd }
 * - `pgforkguard:pool:evict`  { registry, key, reason }
 */
export const channels = {
  fork: diagnosticsChannel.channel('pgforkguard:fork'),
  poolReset: diagnosticsChannel.channel('pgforkguard:pool:reset'),
  clientDrop: diagnosticsChannel.channel('pgforkguard:client:drop'),
  poolEvict: diagnosticsChannel.channel('pgforkguard:pool:evict'),
};

export function publish(channel: diagnosticsChannel.Channel, message: () => object): void {
  if (channel.hasSubscribers) channel.publish(message());
}
