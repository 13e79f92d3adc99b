import net from 'node:net';
import { buildFunctions } from '../../src/app/functions';
import { fixedServices } from '../../src/app/services';
import { MAX_BODY_BYTES, startLocalHost, type LocalHost } from '../../tools/host/localHost';
import { quietLogger, startHarness, type Harness } from '../support/harness';

/**
 * The local host's HTTP surface, with raw sockets (an HTTP client would refuse to send most of these): a Host header
 * that is not a host[:port] and an absolute-form target are a 400, never a 500 nor a URL built from them; bodies
 * over 1 MiB are a 413, answered before the body is read.
 */
describe('local host: hostile requests on a raw socket', () => {
  let h: Harness;
  let host: LocalHost;
  let port: number;

  beforeAll(async () => {
    h = await startHarness();
    const service = h.service();
    host = await startLocalHost({ functions: buildFunctions(service.settings, fixedServices(service)), port: 0, log: quietLogger });
    port = Number(new URL(host.url).port);
  });
  afterAll(async () => {
    await host?.close();
    await h?.close();
  });

  /** Sends `head` (and then `body` chunks, as long as the server reads), resolves with what the server answered. */
  const raw = (head: string, body: Buffer[] = []) =>
    new Promise<{ status: number; text: string; bodyBytesSent: number }>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      let sent = 0;
      let answered = false;
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        answered = true;
      });
      socket.on('error', (error: NodeJS.ErrnoException) => (answered ? undefined : reject(error)));
      socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, bodyBytesSent: sent }));
      socket.write(head, async () => {
        for (const chunk of body) {
          if (answered || socket.destroyed) break;
          const ok = socket.write(chunk);
          sent += chunk.length;
          if (!ok) await new Promise((r) => socket.once('drain', r).once('close', r));
        }
      });
      socket.setTimeout(30_000, () => socket.destroy(new Error('no answer within 30 s')));
    });

  it.each([
    ['a Host with userinfo', 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:7071@evil.example\r\nConnection: close\r\n\r\n'],
    ['an unclosed IPv6 Host', 'GET /api/health HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n'],
    ['a Host with a path', 'GET /api/health HTTP/1.1\r\nHost: localhost/evil\r\nConnection: close\r\n\r\n'],
    ['a Host with an out-of-range port', 'GET /api/health HTTP/1.1\r\nHost: localhost:99999\r\nConnection: close\r\n\r\n'],
    ['an absolute-form target', 'GET http://evil.example/api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'],
    ['an absolute-form target with the right host', 'GET http://127.0.0.1/api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'],
  ])('%s: 400, and nothing of it in the answer', async (_name, request) => {
    const answer = await raw(request);
    expect(answer.status).toBe(400);
    expect(answer.text).not.toContain('evil');
    expect(answer.text).toMatch(/"code":"BadRequest"/);
  });

  it('a target that starts with // stays a path of this host', async () => {
    const answer = await raw('GET //evil.example/api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(answer.status).toBe(404);
  });

  it.each(['localhost', 'LOCALHOST:7071', '127.0.0.1:1', '[::1]:7071', 'risk-sync.example.com.'])('Host: %s is served', async (hostHeader) => {
    const answer = await raw(`GET /api/health HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`);
    expect([200, 503]).toContain(answer.status);
  });

  it('a declared body over 1 MiB: 413 before any of it is read', async () => {
    const answer = await raw(`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${10 * 1024 ** 3}\r\n\r\n`);
    expect(answer.status).toBe(413);
    expect(answer.text).toMatch(/"code":"PayloadTooLarge"/);
  });

  it('a chunked body that passes 1 MiB: 413 as it passes, the rest is not waited for', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    // 64 MiB offered: the answer comes once a little more than 1 MiB has been read.
    const answer = await raw('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n', Array(1024).fill(framed));
    expect(answer.status).toBe(413);
    expect(answer.bodyBytesSent).toBeGreaterThan(MAX_BODY_BYTES);
    expect(answer.bodyBytesSent).toBeLessThan(64 * 1024 * 1024);
  });

  it('a body within the limit is accepted', async () => {
    const body = Buffer.alloc(1000, 'a');
    const answer = await raw(`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, [body]);
    expect([200, 503]).toContain(answer.status);
  });
});
