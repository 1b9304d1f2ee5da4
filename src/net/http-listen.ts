import type http from 'node:http';

export interface ListeningHttp {
  port: number;
  /** Stop accepting and drop open connections (SSE streams and keep-alive sockets included). */
  close(): Promise<void>;
}

/** Listen on host:port (0: any free port) and report the port bound. */
export async function listenHttp(server: http.Server, host: string, port: number): Promise<ListeningHttp> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
