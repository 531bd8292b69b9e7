/**
 * `connection`: how each flow's endpoints behave across all flows of the run: per-host fan-out and totals, and
 * metrics of the connection graph (hosts as nodes, an edge from each initiator to each responder it contacted,
 * weighted by flows): degree, betweenness centrality, Louvain communities and clustering coefficient, computed
 * with graphology.
 *
 * This group needs every flow before it can write any, so it is the one group that does not stream: when it is
 * selected, records are held in memory until the end of input (about the size of the records themselves, some
 * 10 KB per flow as JSON with every group on), then completed and written. Select groups without `connection` to stream.
 *
 * Hosts are IP addresses (before `anonymize_ips`). A host's packets and bytes are those of its flows, both
 * directions: the flows it started, and those it was the responder of (whether it replied or not).
 *
 * @module
 */
// npm: specifiers, not bare names: mod.ts imported by a script outside this project (no deno.json of ours to map
// bare names) must still resolve them. Inside it, Deno takes them from node_modules; the versions are
// package.json's (tests/mod_import_test.ts checks).
// deno-lint-ignore no-import-prefix
import { DirectedGraph, UndirectedGraph } from "npm:graphology@0.26.0";
// deno-lint-ignore no-import-prefix
import louvainModule from "npm:graphology-communities-louvain@2.0.2";
// deno-lint-ignore no-import-prefix
import { connectedComponents } from "npm:graphology-components@1.5.4";
// deno-lint-ignore no-import-prefix
import betweennessModule from "npm:graphology-metrics@2.4.2/centrality/betweenness.js";
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";

// These packages are CommonJS whose module.exports is the function: at run time the default import is the
// function, while their typings describe an ES module with a `default` export.
const louvain = louvainModule as unknown as typeof louvainModule.default;
const betweennessCentrality = betweennessModule as unknown as typeof betweennessModule.default;

/**
 * The betweenness work of all connected parts together, each part's `hosts x (hosts + edges)` (a BFS from every
 * host), the smallest parts first: the hosts of parts past it get no betweenness (null). A budget per part let
 * many parts add up without end (four cycles of 14,000 hosts took 354 s). Its cost per unit depends on the
 * graph's shape, measured on this project's machine class: about 15 ns for 10,000 hosts with 20,000 random
 * edges (4.5 s at the bound), up to 100 ns for long chains and cycles (about 30 s at the bound).
 */
export const BETWEENNESS_MAX_WORK = 3e8;

/**
 * The betweenness work of a connected part (see {@linkcode BETWEENNESS_MAX_WORK}).
 *
 * @example
 * ```ts
 * import { betweennessWork } from "./connection.ts";
 * console.log(betweennessWork(10000, 20000)); // 300000000
 * ```
 */
export function betweennessWork(hosts: number, edges: number): number {
  return hosts * (hosts + edges);
}

const f = (name: string, type: "int" | "float" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f(
    "conn_src_unique_dsts",
    "int",
    "Distinct hosts the initiator started flows to (fan-out; high for scanners).",
  ),
  f(
    "conn_dst_unique_srcs",
    "int",
    "Distinct hosts that started flows to the responder (fan-in; high for servers).",
  ),
  f("conn_src_dst_flows", "int", "Flows from this initiator to this responder."),
  f("conn_src_port_flows", "int", "Flows from this initiator to this responder on this destination port."),
  f("conn_src_total_flows", "int", "Flows the initiator started."),
  f("conn_dst_total_flows", "int", "Flows the responder host was the responder of (replied to or not)."),
  f(
    "conn_src_total_packets",
    "int",
    "Packets, both directions, of all the flows the initiator host started.",
  ),
  f(
    "conn_src_total_bytes",
    "int",
    "Wire bytes, both directions, of all the flows the initiator host started.",
  ),
  f(
    "conn_dst_total_packets",
    "int",
    "Packets, both directions, of all the flows the responder host was the responder of.",
  ),
  f(
    "conn_dst_total_bytes",
    "int",
    "Wire bytes, both directions, of all the flows the responder host was the responder of.",
  ),
  f("conn_src_unique_ports", "int", "Distinct destination ports of the flows the initiator started."),
  f(
    "conn_src_out_degree",
    "int",
    "Out-degree of the initiator in the connection graph (distinct responders).",
  ),
  f("conn_dst_in_degree", "int", "In-degree of the responder (distinct initiators)."),
  f(
    "conn_src_betweenness",
    "float",
    "Normalized betweenness centrality of the initiator in the directed graph, 0-1 (null for the hosts of " +
      "connected parts past a work of 3e8, hosts x (hosts + edges) summed over the parts, the smallest first).",
  ),
  f("conn_dst_betweenness", "float", "Normalized betweenness centrality of the responder."),
  f(
    "conn_src_community",
    "int",
    "Louvain community of the initiator in the undirected graph (numbered by first appearance). The same " +
      "records give the same communities in every run (a fixed seed), but the records in another order (the " +
      "inputs, or options that end flows elsewhere) can give another partition of about the same modularity.",
  ),
  f("conn_dst_community", "int", "Louvain community of the responder."),
  f("conn_same_community", "bool", "Initiator and responder are in the same community."),
  f("conn_src_clustering", "float", "Local clustering coefficient of the initiator (undirected graph), 0-1."),
  f("conn_dst_clustering", "float", "Local clustering coefficient of the responder."),
];

/** What one host did. */
class Host {
  outFlows = 0;
  inFlows = 0;
  /** Flows this host started per responder, its destination ports, and flows per responder and port. */
  dsts: Map<string, number> = new Map();
  ports: Set<number> = new Set();
  pairPorts: Map<string, number> = new Map();
  srcs: Set<string> = new Set();
  /** Packets and bytes, both directions, of the flows this host started and of those it answered. */
  startedPackets = 0;
  startedBytes = 0;
  answeredPackets = 0;
  answeredBytes = 0;
}

const int = (v: unknown): number => typeof v === "number" && Number.isFinite(v) ? v : 0;

/** A seeded xorshift32 in [0, 1), so communities are the same on every run. */
function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * Betweenness centrality of every host, normalized over the whole graph as networkx does for directed graphs
 * (1 / ((n - 1)(n - 2))), unweighted. Computed per weakly connected part, which gives the same values (no
 * shortest path leaves its part) in time proportional to the parts' sizes squared rather than the graph's.
 */
function betweenness(g: DirectedGraph): Map<string, number | null> {
  const n = g.order, out = new Map<string, number | null>();
  const scale = n > 2 ? 1 / ((n - 1) * (n - 2)) : 0;
  const parts = connectedComponents(g).map((part, i) => {
    let edges = 0;
    for (const v of part) edges += g.outDegree(v);
    return { part, work: betweennessWork(part.length, edges), i };
  });
  // The smallest parts first: one huge part leaves the many small ones their values.
  parts.sort((a, b) => a.work - b.work || a.i - b.i);
  let budget = BETWEENNESS_MAX_WORK;
  for (const { part, work } of parts) {
    if (part.length < 3 || work > budget) {
      for (const v of part) out.set(v, part.length < 3 ? 0 : null);
      continue;
    }
    budget -= work;
    const sub = part.length === n ? g : new DirectedGraph({ allowSelfLoops: true });
    if (sub !== g) {
      for (const v of part) sub.addNode(v);
      for (const v of part) g.forEachOutNeighbor(v, (w: string) => void sub.mergeEdge(v, w));
    }
    const b = betweennessCentrality(sub, { getEdgeWeight: null, normalized: false });
    for (const v of part) out.set(v, b[v] * scale);
  }
  return out;
}

/** Local clustering coefficient of every node of an undirected graph (self loops ignored), by counting each
 * triangle once along degree-ordered edges. */
function clustering(g: UndirectedGraph, order: string[]): Map<string, number> {
  const index = new Map<string, number>();
  order.forEach((n, i) => index.set(n, i));
  const n = order.length;
  const adj: number[][] = [];
  for (let i = 0; i < n; i++) {
    const nb: number[] = [];
    g.forEachNeighbor(order[i], (m: string) => {
      const j = index.get(m)!;
      if (j !== i) nb.push(j);
    });
    adj.push(nb);
  }
  const deg = adj.map((a) => a.length);
  const rank = (i: number, j: number): boolean => deg[i] < deg[j] || (deg[i] === deg[j] && i < j);
  // Forward neighbours: higher-ranked ones, sorted, so that each triangle is found once.
  const fwd = adj.map((a, i) => a.filter((j) => rank(i, j)).sort((x, y) => x - y));
  const tri = new Array(n).fill(0);
  for (let u = 0; u < n; u++) {
    const fu = fwd[u];
    for (const v of fu) {
      const fv = fwd[v];
      let a = 0, b = 0;
      while (a < fu.length && b < fv.length) {
        if (fu[a] < fv[b]) a++;
        else if (fu[a] > fv[b]) b++;
        else {
          tri[u]++;
          tri[v]++;
          tri[fu[a]]++;
          a++;
          b++;
        }
      }
    }
  }
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const d = deg[i];
    out.set(order[i], d > 1 ? (2 * tri[i]) / (d * (d - 1)) : 0);
  }
  return out;
}

/**
 * Fills the connection columns of `records` (each needs `src_ip`, `dst_ip`, `dst_port`, `packets_fwd`,
 * `packets_bwd`, `bytes_fwd` and `bytes_bwd`, which `flow_meta` writes).
 *
 * @example
 * ```ts
 * import { computeConnectionFeatures } from "./connection.ts";
 * const recs: Record<string, unknown>[] = [
 *   { src_ip: "a", dst_ip: "b", dst_port: 80, packets_fwd: 1, packets_bwd: 1, bytes_fwd: 60, bytes_bwd: 60 },
 * ];
 * computeConnectionFeatures(recs as never);
 * console.log(recs[0].conn_src_unique_dsts); // 1
 * ```
 */
export function computeConnectionFeatures(records: FlowRecord[]): void {
  const hosts = new Map<string, Host>();
  const host = (ip: string): Host => {
    let h = hosts.get(ip);
    if (h === undefined) hosts.set(ip, h = new Host());
    return h;
  };
  const directed = new DirectedGraph({ allowSelfLoops: true });
  const undirected = new UndirectedGraph({ allowSelfLoops: false });
  for (const r of records) {
    const src = r.src_ip, dst = r.dst_ip;
    if (typeof src !== "string" || typeof dst !== "string") continue;
    const port = int(r.dst_port);
    const pf = int(r.packets_fwd), pb = int(r.packets_bwd), bf = int(r.bytes_fwd), bb = int(r.bytes_bwd);
    const s = host(src), d = host(dst);
    s.outFlows++;
    s.dsts.set(dst, (s.dsts.get(dst) ?? 0) + 1);
    s.ports.add(port);
    const pair = `${port} ${dst}`;
    s.pairPorts.set(pair, (s.pairPorts.get(pair) ?? 0) + 1);
    s.startedPackets += pf + pb;
    s.startedBytes += bf + bb;
    d.inFlows++;
    d.srcs.add(src);
    d.answeredPackets += pf + pb;
    d.answeredBytes += bf + bb;
  }
  if (hosts.size === 0) return;
  const order = [...hosts.keys()]; // first appearance
  for (const h of order) {
    directed.addNode(h);
    undirected.addNode(h);
  }
  // Edges weighted by flows: initiator to responder, and in the undirected graph both ways summed.
  for (const [h, s] of hosts) {
    for (const [d, n] of s.dsts) {
      directed.addEdge(h, d, { weight: n });
      if (h === d) continue;
      const e = undirected.edge(h, d);
      if (e === undefined) undirected.addEdge(h, d, { weight: n });
      else undirected.updateEdgeAttribute(e, "weight", (w: number) => w + n);
    }
  }
  const between = betweenness(directed);
  const raw = undirected.size > 0
    ? louvain(undirected, { getEdgeWeight: "weight", rng: seededRandom(0x6a6a) })
    : {} as Record<string, number>;
  // Renumber communities by first appearance; hosts without edges get one of their own.
  const ids = new Map<string, number>();
  const community = new Map<string, number>();
  for (const n of order) {
    const key = raw[n] !== undefined ? `c${raw[n]}` : `h${n}`;
    let id = ids.get(key);
    if (id === undefined) ids.set(key, id = ids.size);
    community.set(n, id);
  }
  const cc = clustering(undirected, order);
  for (const r of records) {
    const src = r.src_ip, dst = r.dst_ip;
    if (typeof src !== "string" || typeof dst !== "string") continue;
    const s = hosts.get(src)!, d = hosts.get(dst)!;
    const port = int(r.dst_port);
    r.conn_src_unique_dsts = s.dsts.size;
    r.conn_dst_unique_srcs = d.srcs.size;
    r.conn_src_dst_flows = s.dsts.get(dst)!;
    r.conn_src_port_flows = s.pairPorts.get(`${port} ${dst}`)!;
    r.conn_src_total_flows = s.outFlows;
    r.conn_dst_total_flows = d.inFlows;
    r.conn_src_total_packets = s.startedPackets;
    r.conn_src_total_bytes = s.startedBytes;
    r.conn_dst_total_packets = d.answeredPackets;
    r.conn_dst_total_bytes = d.answeredBytes;
    r.conn_src_unique_ports = s.ports.size;
    r.conn_src_out_degree = directed.outDegree(src);
    r.conn_dst_in_degree = directed.inDegree(dst);
    r.conn_src_betweenness = between.get(src)!;
    r.conn_dst_betweenness = between.get(dst)!;
    const cs = community.get(src)!, cd = community.get(dst)!;
    r.conn_src_community = cs;
    r.conn_dst_community = cd;
    r.conn_same_community = cs === cd;
    r.conn_src_clustering = cc.get(src)!;
    r.conn_dst_clustering = cc.get(dst)!;
  }
}

/**
 * The `connection` group. Its columns are filled by `finalize` once every flow is known.
 *
 * @example
 * ```ts
 * import { connectionExtractor } from "./connection.ts";
 * console.log(typeof connectionExtractor.finalize); // function
 * ```
 */
export const connectionExtractor: FeatureExtractor<null> = {
  name: "connection",
  features,
  init: (): null => null,
  update(): void {},
  finish(): void {},
  finalize: computeConnectionFeatures,
};
