// A TCP proxy between a client and a real PostgreSQL that reads the frontend
// protocol far enough to recognise the first COMMIT and cut the connection
// there: `after` forwards the COMMIT to the server, then drops the client at
// once (the server commits; its reply never arrives), and reads the server's
// reply itself so a test can say what the server did; `before` drops both
// sides instead of forwarding it (the server rolls back). Either way the
// client has sent its COMMIT and never hears back.
//
// Frontend messages: the first (startup, or an SSL/GSS request before it) is
// an int32 length and a body; every later one is a type byte, an int32
// length that counts itself, and a body. tokio-postgres commits with a
// simple Query ('Q') whose text is "COMMIT"; `queries` records every simple
// query the proxy saw, so a test can check that.

import net from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/**
 * Split the complete messages off the front of `buf`: [messages, rest].
 * `state.startup` is true while untyped startup-phase messages are expected
 * (frontend only); each message is { type, bytes, body }.
 */
function splitMessages(buf, state = { startup: false }) {
  const messages = [];
  let at = 0;
  for (;;) {
    if (state.startup) {
      if (buf.length - at < 4) break;
      const len = buf.readInt32BE(at);
      if (buf.length - at < len) break;
      const code = len >= 8 ? buf.readInt32BE(at + 4) : 0;
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) state.encryptionAsked = true;
      else state.startup = false;
      messages.push({ type: null, bytes: buf.subarray(at, at + len) });
      at += len;
    } else {
      if (buf.length - at < 5) break;
      const len = buf.readInt32BE(at + 1);
      if (buf.length - at < len + 1) break;
      const bytes = buf.subarray(at, at + len + 1);
      messages.push({ type: String.fromCharCode(bytes[0]), bytes, body: bytes.subarray(5) });
      at += len + 1;
    }
  }
  return [messages, buf.subarray(at)];
}

const text = (body) => body.toString('utf8').replace(/\0$/, '');

/**
 * Listen on 127.0.0.1 and proxy to `target` ({ host, port }), in plain text
 * (the client must use sslmode=disable). Resolves to { port, queries,
 * commitChunk, cut, serverReply, close }: `queries` holds every simple
 * query, `commitChunk` the types of the messages the client wrote together
 * with its COMMIT, `cut` is set once it was cut, and `serverReply` resolves
 * to what the server answered the COMMIT (mode `after`: its CommandComplete
 * tag, or 'error') or to null (mode `before`: the server never saw it).
 */
export async function startCommitCutter(target, mode) {
  if (mode !== 'after' && mode !== 'before') throw new Error(`mode must be after or before, not ${mode}`);
  const queries = [];
  const sockets = new Set();
  let resolveReply;
  const state = {
    cut: false,
    commitChunk: null,
    serverReply: new Promise((resolve) => (resolveReply = resolve)),
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      // One small write per message would otherwise meet Nagle and delayed ACKs.
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    const front = { startup: true, encryptionAsked: false };
    let fromClient = Buffer.alloc(0);
    let fromServer = Buffer.alloc(0);
    // Mode `after`, once the COMMIT is on its way: the server's answer is
    // read here and goes no further.
    let awaitingAnswer = false;

    upstream.on('data', (d) => {
      if (!awaitingAnswer) {
        if (!client.destroyed) client.write(d);
        if (front.encryptionAsked) {
          // The one-byte answer to an SSL/GSS request ('N': go on in plain text).
          front.encryptionAsked = false;
          d = d.subarray(1);
        }
      }
      const [messages, rest] = splitMessages(Buffer.concat([fromServer, d]));
      fromServer = rest;
      if (!awaitingAnswer) return;
      // Replies still due from before (CloseComplete, ReadyForQuery) come
      // first; the COMMIT's own answer is the first CommandComplete or error.
      const answer = messages.find((m) => m.type === 'C' || m.type === 'E');
      if (answer) {
        resolveReply(answer.type === 'C' ? text(answer.body) : 'error');
        upstream.destroy();
      }
    });
    upstream.on('close', () => {
      if (awaitingAnswer) resolveReply('no answer');
      client.destroy();
    });
    client.on('close', () => {
      if (!awaitingAnswer) upstream.destroy();
    });

    client.on('data', (d) => {
      if (state.cut) return;
      const [messages, rest] = splitMessages(Buffer.concat([fromClient, d]), front);
      fromClient = rest;
      // Forwarded as the client wrote them, one chunk at a time.
      const forward = [];
      for (const m of messages) {
        if (m.type === 'Q') {
          queries.push(text(m.body));
          if (text(m.body).trim().toUpperCase() === 'COMMIT') {
            state.cut = true;
            state.commitChunk = messages.map((x) => x.type);
            if (mode === 'after') {
              awaitingAnswer = true;
              upstream.write(Buffer.concat([...forward, m.bytes]));
            } else {
              upstream.end(Buffer.concat(forward));
              resolveReply(null);
            }
            client.destroy();
            return;
          }
        }
        forward.push(m.bytes);
      }
      if (forward.length > 0) upstream.write(Buffer.concat(forward));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    queries,
    get cut() {
      return state.cut;
    },
    get commitChunk() {
      return state.commitChunk;
    },
    serverReply: state.serverReply,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
