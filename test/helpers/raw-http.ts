// Raw HTTP/1.1 over a socket: the request goes out byte for byte as written
// (no client normalises its path), and the response is parsed here.
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Sends `request` (a whole HTTP request; `Connection: close` is advised) to
 * 127.0.0.1:`port` and resolves with the parsed response once the server closes.
 */
export function rawRequest(port: number, request: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', reject);
    sock.setTimeout(10_000, () => sock.destroy(new Error('raw request timed out')));
    sock.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) { reject(new Error(`no HTTP response: ${JSON.stringify(all.toString('latin1').slice(0, 200))}`)); return; }
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let body = all.subarray(end + 4);
      if (headers['transfer-encoding'] === 'chunked') {
        const parts: Buffer[] = [];
        let off = 0;
        for (;;) {
          const nl = body.indexOf('\r\n', off);
          const n = parseInt(body.subarray(off, nl).toString('latin1'), 16);
          if (!n) break;
          parts.push(body.subarray(nl + 2, nl + 2 + n));
          off = nl + 2 + n + 2;
        }
        body = Buffer.concat(parts);
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    sock.write(request);
  });
}

/** A GET of `target` exactly as written, with the right Host header for `port`. */
export function rawGet(port: number, target: string, extra = ''): Promise<RawResponse> {
  return rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}Connection: close\r\n\r\n`);
}
