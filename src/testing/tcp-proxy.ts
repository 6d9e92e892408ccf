/**
 * A TCP proxy on 127.0.0.1 that a test can cut, to play a network partition between a host and
 * its PostgreSQL: `cut('refuse')` closes every connection and refuses new ones; `cut('blackhole')`
 * drops every connection and leaves new ones hanging unanswered (a silent network); `restore()`
 * forwards again.
 */
import net from 'node:net';

/** A cuttable proxy. */
export interface TcpProxy {
  port: number;
  cut(mode?: 'refuse' | 'blackhole'): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Forward 127.0.0.1:<port> to 127.0.0.1:`targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let mode: 'open' | 'refuse' | 'blackhole' = 'open';
  let port = 0;
  let server: net.Server | undefined;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = net.createServer((client) => {
        track(client);
        if (mode === 'blackhole') return;
        const upstream = net.connect(targetPort, '127.0.0.1');
        track(upstream);
        client.pipe(upstream);
        upstream.pipe(client);
        client.once('close', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        port = (srv.address() as net.AddressInfo).port;
        server = srv;
        resolve();
      });
    });
  const closeServer = () =>
    new Promise<void>((resolve) => {
      const srv = server;
      server = undefined;
      if (!srv) return resolve();
      srv.close(() => resolve());
    });
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  await listen();
  return {
    get port() {
      return port;
    },
    async cut(how = 'refuse') {
      mode = how;
      dropAll();
      if (how === 'refuse') await closeServer();
    },
    async restore() {
      mode = 'open';
      dropAll(); // connections accepted while blackholed never got an upstream
      if (!server) await listen();
    },
    async close() {
      mode = 'refuse';
      dropAll();
      await closeServer();
    },
  };
}
