import type { Logger } from '../core/logger.js';

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare) || bare === '::ffff:127.0.0.1';
}

/**
 * Upload URLs are built from publicUrl, else from the listen address (never from a client's Host header). Serving
 * other machines without publicUrl is allowed, but the URLs then name this address, which may not be the one
 * nodes reach (a proxy, NAT, a DNS name): say so once at start.
 */
export function warnWithoutPublicUrl(
  config: { listen: { host: string }; publicUrl?: string },
  url: string,
  logger: Logger,
): void {
  if (config.publicUrl || isLoopback(config.listen.host)) return;
  logger.warn('listening beyond this machine without publicUrl: upload URLs name the listen address', {
    listen: url,
    hint: 'set "publicUrl" to the address nodes use to reach the relay',
  });
}
