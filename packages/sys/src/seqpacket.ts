import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { SysError } from './native.js';

/*
 * A SOCK_SEQPACKET unix socket client (conmon's attach socket). Node cannot adopt such a socket:
 * libuv's uv_guess_handle() only knows stream and datagram sockets, so net.Socket({ fd }) refuses
 * it. The socket is therefore opened non-blocking through libc, and readiness comes from poll(2)
 * run as a koffi async call (on a worker thread, never the event loop). The main thread then
 * drains with non-blocking recv/send, so a message is never split or truncated. close() wakes a
 * pending poll with shutdown(2) and closes the fd only after the poll has returned, so a
 * descriptor is never closed under another thread's feet (no fd-reuse race).
 */

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const SHUT_WR = 1;
const SHUT_RDWR = 2;
const EAGAIN = 11;
const EINTR = 4;
const ECONNRESET = 104;
const SUN_PATH_MAX = 108;
/** Larger than any message conmon sends (8192 + 1) or accepts (32767). */
const RECV_BUFFER = 65536;
/** Bounds each poll so a stuck peer never pins a worker thread forever. */
const POLL_TIMEOUT_MS = 1000;

type AsyncFn = ((...args: unknown[]) => number) & {
  async: (...args: unknown[]) => void;
};

interface SocketLibc {
  socket: (domain: number, type: number, protocol: number) => number;
  connect: (fd: number, addr: Buffer, len: number) => number;
  send: (fd: number, buf: Uint8Array, len: number, flags: number) => number;
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number;
  shutdown: (fd: number, how: number) => number;
  close: (fd: number) => number;
  poll: AsyncFn;
  errno: () => number;
}

let libc: SocketLibc | undefined;

function loadSocketLibc(): SocketLibc {
  if (libc) return libc;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int domain, int type, int protocol)') as SocketLibc['socket'],
    connect: lib.func(
      'int connect(int fd, const void *addr, uint32_t len)',
    ) as SocketLibc['connect'],
    send: lib.func(
      'intptr_t send(int fd, const void *buf, size_t len, int flags)',
    ) as SocketLibc['send'],
    recv: lib.func(
      'intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)',
    ) as SocketLibc['recv'],
    shutdown: lib.func('int shutdown(int fd, int how)') as SocketLibc['shutdown'],
    close: lib.func('int close(int fd)') as SocketLibc['close'],
    poll: lib.func('int poll(void *fds, uint64_t nfds, int timeout)') as unknown as AsyncFn,
    errno: () => koffi.errno(),
  };
  return libc;
}

/** Waits (off the event loop) until fd has one of `events` or the poll times out. */
function pollAsync(c: SocketLibc, fd: number, events: number): Promise<number> {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(events, 4);
  return new Promise((resolve, reject) => {
    c.poll.async(pfd, 1, POLL_TIMEOUT_MS, (err: unknown, res: number) => {
      if (err) reject(err);
      else resolve(res);
    });
  });
}

function sockaddr(path: string): Buffer {
  const p = Buffer.from(path);
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  p.copy(addr, 2);
  return addr;
}

/** A connected SOCK_SEQPACKET client: one send() is one message, one recv() one message. */
export class SeqpacketSocket implements AsyncIterable<Buffer> {
  private fd: number;
  private readonly path: string;
  private polls = 0;
  private closing = false;
  private writes: Promise<void> = Promise.resolve();
  private readonly buf = Buffer.alloc(RECV_BUFFER);

  /** @internal use connectSeqpacket() */
  constructor(fd: number, path: string) {
    this.fd = fd;
    this.path = path;
  }

  get closed(): boolean {
    return this.closing;
  }

  private async waitFor(events: number): Promise<void> {
    const c = loadSocketLibc();
    this.polls++;
    try {
      await pollAsync(c, this.fd, events);
    } finally {
      this.polls--;
      if (this.closing && this.polls === 0) this.release();
    }
  }

  /** The next message, or null once the peer has closed (or this side was closed). */
  async recv(): Promise<Buffer | null> {
    const c = loadSocketLibc();
    for (;;) {
      if (this.closing) return null;
      const n = c.recv(this.fd, this.buf, this.buf.length, MSG_DONTWAIT);
      if (n > 0) return Buffer.from(this.buf.subarray(0, n));
      if (n === 0) return null;
      const errno = c.errno();
      if (errno === EINTR) continue;
      // conmon closes the attach socket when the process ends; if our last stdin write was
      // still unread the kernel reports a reset instead of end-of-file. Both mean: no more data.
      if (errno === ECONNRESET) return null;
      if (errno !== EAGAIN) throw new SysError('recv', errno, this.path);
      await this.waitFor(POLLIN);
    }
  }

  /** Sends one message (in order with the other sends). */
  send(data: Uint8Array): Promise<void> {
    const next = this.writes.then(() => this.sendNow(data));
    this.writes = next.catch(() => undefined);
    return next;
  }

  private async sendNow(data: Uint8Array): Promise<void> {
    const c = loadSocketLibc();
    for (;;) {
      if (this.closing) throw new SysError('send', 9, this.path, 'socket closed');
      const n = c.send(this.fd, data, data.length, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) return;
      const errno = c.errno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw new SysError('send', errno, this.path);
      await this.waitFor(POLLOUT);
    }
  }

  /** Half-closes: the peer reads end-of-file (conmon then closes the container's stdin). */
  async shutdownWrite(): Promise<void> {
    await this.writes;
    if (!this.closing) loadSocketLibc().shutdown(this.fd, SHUT_WR);
  }

  /** Closes the socket; a pending recv() resolves null. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    const c = loadSocketLibc();
    // Wakes a poll in flight; the fd itself is closed once no poll uses it.
    c.shutdown(this.fd, SHUT_RDWR);
    if (this.polls === 0) this.release();
  }

  private release(): void {
    if (this.fd < 0) return;
    loadSocketLibc().close(this.fd);
    this.fd = -1;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const m = await this.recv();
      if (m === null) return;
      yield m;
    }
  }
}

/**
 * Connects to a SOCK_SEQPACKET unix socket. Paths longer than sun_path allows are reached
 * through /proc/self/fd/N of their directory (the way conmon binds them).
 */
export async function connectSeqpacket(path: string): Promise<SeqpacketSocket> {
  const c = loadSocketLibc();
  let dirFd: number | undefined;
  let target = path;
  if (Buffer.byteLength(path) >= SUN_PATH_MAX) {
    const slash = path.lastIndexOf('/');
    dirFd = fs.openSync(
      path.slice(0, slash) || '/',
      fs.constants.O_RDONLY | fs.constants.O_DIRECTORY,
    );
    target = `/proc/self/fd/${dirFd}/${path.slice(slash + 1)}`;
  }
  try {
    const fd = c.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new SysError('socket', c.errno(), path);
    const addr = sockaddr(target);
    // A unix socket whose backlog is full says EAGAIN and does not queue us: try again.
    for (let attempt = 0; c.connect(fd, addr, addr.length) !== 0; attempt++) {
      const errno = c.errno();
      if ((errno !== EAGAIN && errno !== EINTR) || attempt >= 500) {
        c.close(fd);
        throw new SysError('connect', errno, path);
      }
      await sleep(10);
    }
    const sock = new SeqpacketSocket(fd, path);
    return sock;
  } finally {
    if (dirFd !== undefined) fs.closeSync(dirFd);
  }
}
