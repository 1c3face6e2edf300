import type { PoolClient } from 'pg';

const ignore = () => undefined;

/**
 * A client checked out of a `pg` pool emits 'error' when its server connection dies (a
 * restart, a terminated backend); with no listener that event ends the process. Code that
 * holds a raw pool client (COPY streams) learns of the failure from its stream instead, so
 * this only keeps the event from being fatal. Returns the release to use in place of the
 * pool's: the listener goes with a healthy client back to the pool, and stays on a broken one,
 * which may still report its death after it is handed back.
 */
export function guardPoolClient(client: PoolClient, release: (error?: Error | boolean) => void): (error?: Error | boolean) => void {
  client.on('error', ignore);
  return (error) => {
    if (!error) client.off('error', ignore);
    release(error);
  };
}
