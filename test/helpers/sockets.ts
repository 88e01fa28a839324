import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A listening TCP socket as /proc/net/tcp{,6} shows it. */
export interface ListeningSocket {
  address: string;
  port: number;
  inode: string;
}

/** `0100007F:1F90` (IPv4, little-endian words) or the 32-digit IPv6 form → text. */
function decodeAddress(hex: string): string {
  if (hex.length === 8)
    return hex
      .match(/../g)!
      .reverse()
      .map((byte) => parseInt(byte, 16))
      .join('.');
  const words = hex.match(/.{8}/g)!.map((word) => word.match(/../g)!.reverse().join(''));
  const groups = words
    .join('')
    .match(/.{4}/g)!
    .map((group) => group.replace(/^0+(?=.)/, ''));
  const text = groups.join(':').toLowerCase();
  if (text === '0:0:0:0:0:0:0:0') return '::';
  if (text === '0:0:0:0:0:0:0:1') return '::1';
  const mapped = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(text);
  if (mapped) {
    const value = (parseInt(mapped[1]!, 16) << 16) | parseInt(mapped[2]!, 16);
    return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
  }
  return text;
}

/** Every listening TCP socket on this machine (Linux). */
export function listeningSockets(): ListeningSocket[] {
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      // Column 4 is the state: 0A is LISTEN.
      .filter((columns) => columns[3] === '0A')
      .map((columns) => {
        const [address, port] = columns[1]!.split(':');
        return { address: decodeAddress(address!), port: parseInt(port!, 16), inode: columns[9]! };
      }),
  );
}

/** The listening sockets a process holds open. */
export function listeningSocketsOf(pid: number): ListeningSocket[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        return [/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? ''];
      } catch {
        return [];
      }
    }),
  );
  return listeningSockets().filter((socket) => inodes.has(socket.inode));
}

export const isLoopback = (address: string): boolean =>
  address === '::1' || address.startsWith('127.');
