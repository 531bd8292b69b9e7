/**
 * Joy's application and direction guess from the first payload bytes of a flow (`proto_identify.c`): a few
 * byte-prefix keywords for TCP (TLS client/server hellos with record versions 1.0–1.2, HTTP request methods and
 * `HTTP/1.1 ` responses) and one for UDP (a DNS query with one question and no answers). Joy looks at the first
 * two packets with payload of each direction and keeps the first match. The direction decides which side Joy
 * prints first and where its flow ends.
 *
 * Joy's DNS keyword matches *queries* but says "server": the query sender is tagged as the server, so Joy takes
 * the responder for the client. That is reproduced.
 *
 * @module
 */

/** Direction values of Joy's `pi_container` (`DIR_UNKNOWN`, `DIR_CLIENT`, `DIR_SERVER`). */
export const DIR_UNKNOWN = 0, DIR_CLIENT = 1, DIR_SERVER = 2;

/** A protocol guess: application port and direction. */
export interface ProtoGuess {
  /** Application (443 TLS, 80 HTTP, 53 DNS). */
  readonly app: number;
  /** {@linkcode DIR_CLIENT} or {@linkcode DIR_SERVER}. */
  readonly dir: number;
}

/** -1 stands for Joy's wildcard (any byte). */
type Keyword = { bytes: readonly number[]; guess: ProtoGuess };

const W = -1;
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

const TCP_KEYWORDS: readonly Keyword[] = [
  ...[1, 2, 3].flatMap((minor) => [
    { bytes: [0x16, 0x03, minor, W, W, 0x01], guess: { app: 443, dir: DIR_CLIENT } },
    { bytes: [0x16, 0x03, minor, W, W, 0x02], guess: { app: 443, dir: DIR_SERVER } },
  ]),
  ...["GET ", "POST ", "OPTIONS ", "HEAD ", "PUT ", "DELETE ", "TRACE ", "CONNECT "].map((m) => ({
    bytes: ascii(m),
    guess: { app: 80, dir: DIR_CLIENT },
  })),
  { bytes: ascii("HTTP/1.1 "), guess: { app: 80, dir: DIR_SERVER } },
];

const UDP_KEYWORDS: readonly Keyword[] = [
  { bytes: [W, W, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00], guess: { app: 53, dir: DIR_SERVER } },
];

/** A node of Joy's keyword tree: children in insertion order, each with its edge byte (or wildcard). */
interface Node {
  edges: number[];
  children: Node[];
  guess: ProtoGuess | null;
}

function buildTree(words: readonly Keyword[]): Node {
  const root: Node = { edges: [], children: [], guess: null };
  for (const w of words) {
    let node = root;
    for (const b of w.bytes) {
      const i = node.edges.indexOf(b);
      if (i >= 0) node = node.children[i];
      else {
        const child: Node = { edges: [], children: [], guess: null };
        node.edges.push(b);
        node.children.push(child);
        node = child;
      }
    }
    node.guess = w.guess;
  }
  return root;
}

const TCP_TREE = buildTree(TCP_KEYWORDS);
const UDP_TREE = buildTree(UDP_KEYWORDS);

/**
 * Joy's tree search: at each node the first child whose edge is the wildcard or the next byte is followed,
 * without backtracking; a match needs the whole keyword inside the data.
 */
function search(root: Node, buf: Uint8Array, off: number, len: number): ProtoGuess | null {
  let node = root;
  let i = 0;
  while (i < len) {
    const b = buf[off + i];
    let k = 0;
    while (k < node.edges.length && node.edges[k] !== W && node.edges[k] !== b) k++;
    if (k === node.edges.length) return null;
    const child = node.children[k];
    if (child.guess !== null) return child.guess;
    if (len - i === 1) return null;
    node = child;
    i++;
  }
  return null;
}

/**
 * Guesses the application and direction of a TCP payload (`proto_identify_tcp`), or null.
 *
 * @example
 * ```ts
 * import { identifyTcp, DIR_CLIENT } from "./proto_identify.ts";
 * const get = new TextEncoder().encode("GET / HTTP/1.1\r\n");
 * console.log(identifyTcp(get, 0, get.length)?.dir === DIR_CLIENT); // true
 * ```
 */
export function identifyTcp(buf: Uint8Array, off: number, len: number): ProtoGuess | null {
  return len > 0 ? search(TCP_TREE, buf, off, Math.min(len, buf.length - off)) : null;
}

/**
 * Guesses the application and direction of a UDP payload (`proto_identify_udp`), or null.
 *
 * @example
 * ```ts
 * import { identifyUdp, DIR_SERVER } from "./proto_identify.ts";
 * const query = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
 * console.log(identifyUdp(query, 0, query.length)?.dir === DIR_SERVER); // true (Joy's labelling)
 * ```
 */
export function identifyUdp(buf: Uint8Array, off: number, len: number): ProtoGuess | null {
  return len > 0 ? search(UDP_TREE, buf, off, Math.min(len, buf.length - off)) : null;
}
