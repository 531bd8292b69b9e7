/**
 * Differential test of the `connection` group (graphology) against networkx: every corpus capture is
 * extracted with `features: ["connection"]`, the flows' endpoints, ports, packets and bytes go to
 * `tests/networkx_connection.py`, which rebuilds the connection graphs with networkx and computes every
 * column independently; every deterministic column of every flow must match (integers exactly, floats
 * within 1e-9 relative). The graph is per extraction run (the group's `finalize` sees every record of every
 * input), so it is checked per capture and once more for the whole corpus read in one run, where hosts
 * shared by captures join their graphs.
 *
 * Louvain communities are heuristic, so their ids are not recomputed; instead: every host has one community
 * wherever it appears, ids are numbered by first appearance (initiator then responder, record order),
 * `conn_same_community` agrees with the two ids, hosts without an edge (other than to themselves) are
 * alone, and, by networkx on the weighted undirected graph, the partition's modularity is at least that of
 * all singletons (Louvain starts there and only improves) and no two communities joined by an edge gain by
 * merging (Louvain stops after a level where no aggregated community moves).
 *
 * Needs python3 with networkx (`apt-get install -y python3-networkx`, which `scripts/setup.sh --test`
 * installs); the first of `python3` on the PATH and `/usr/bin/python3` that imports it is used.
 */
import assert from "node:assert/strict";
import type { FlowRecord } from "../lib/extractor.ts";
import { CAPTURES, collect, hasCommand, HAVE_CAPTURES, ROOT, run } from "./helpers.ts";

const ORACLE = `${ROOT}/tests/networkx_connection.py`;

/** The first python3 that imports networkx: the PATH's (maybe a pyenv or venv), else Debian's, where
 * python3-networkx installs it. */
function findPython(): string | null {
  for (const py of ["python3", "/usr/bin/python3"]) {
    if (!hasCommand(py)) continue;
    const r = new Deno.Command(py, { args: ["-c", "import networkx"], stdout: "null", stderr: "null" })
      .outputSync();
    if (r.success) return py;
  }
  return null;
}

const PYTHON = HAVE_CAPTURES ? findPython() : null;
let reason = "";
if (!HAVE_CAPTURES) reason = `${CAPTURES} is absent`;
else if (!hasCommand("python3") && !hasCommand("/usr/bin/python3")) reason = "python3 is not installed";
else if (PYTHON === null) reason = "networkx is not installed (apt-get install -y python3-networkx)";
if (reason) console.warn(`networkx_connection_test: skipped: ${reason}`);

const INT_COLUMNS = [
  "conn_src_unique_dsts",
  "conn_dst_unique_srcs",
  "conn_src_dst_flows",
  "conn_src_port_flows",
  "conn_src_total_flows",
  "conn_dst_total_flows",
  "conn_src_total_packets",
  "conn_src_total_bytes",
  "conn_dst_total_packets",
  "conn_dst_total_bytes",
  "conn_src_unique_ports",
  "conn_src_out_degree",
  "conn_dst_in_degree",
];
const FLOAT_COLUMNS = [
  "conn_src_betweenness",
  "conn_dst_betweenness",
  "conn_src_clustering",
  "conn_dst_clustering",
];
const COMMUNITY_COLUMNS = ["conn_src_community", "conn_dst_community", "conn_same_community"];
const ALL_COLUMNS = [...INT_COLUMNS, ...FLOAT_COLUMNS, ...COMMUNITY_COLUMNS];
/** Relative tolerance of float columns. */
const REL = 1e-9;
/** Absolute tolerance of modularity comparisons (modularity is within [-1/2, 1]). */
const Q_EPS = 1e-9;

type Row = [string, string, number, number, number, number, number];

/** One extraction run's records and what is sent to the oracle. */
interface Graph {
  name: string;
  records: FlowRecord[];
  /** Indexes in `records` of the flows with both endpoints (the others get no connection columns). */
  used: number[];
  flows: Row[];
  communities: Record<string, number>;
}

interface LouvainCheck {
  is_partition: boolean;
  communities: number;
  modularity: number;
  singletons_modularity: number;
  best_merge_gain: number | null;
  best_merge_pair: [number, number] | null;
  networkx_louvain_modularity: number;
  networkx_louvain_communities: number;
}

interface OracleGraph {
  name: string;
  nodes: number;
  edges: number;
  undirected_edges: number;
  expected: Record<string, number | null>[];
  louvain: LouvainCheck | null;
}

const num = (v: unknown): number => typeof v === "number" && Number.isFinite(v) ? v : 0;

function flowName(r: FlowRecord, i: number): string {
  return `flow #${i} ${r.src_ip}:${r.src_port} -> ${r.dst_ip}:${r.dst_port} proto ${r.protocol}`;
}

/** Extracts `paths` in one run and checks what needs no oracle: the community columns' own consistency. */
async function extractGraph(name: string, paths: string[], problems: string[]): Promise<Graph> {
  const { records } = await collect(paths.length === 1 ? paths[0] : paths, { features: ["connection"] });
  const g: Graph = { name, records, used: [], flows: [], communities: {} };
  let next = 0;
  const linked = new Set<string>();
  records.forEach((r, i) => {
    const at = `${name} ${flowName(r, i)}`;
    if (typeof r.src_ip !== "string" || typeof r.dst_ip !== "string") {
      for (const c of ALL_COLUMNS) {
        if (r[c] !== null && r[c] !== undefined) problems.push(`${at}: no endpoints but ${c} = ${r[c]}`);
      }
      return;
    }
    g.used.push(i);
    g.flows.push([
      r.src_ip,
      r.dst_ip,
      num(r.dst_port),
      num(r.packets_fwd),
      num(r.packets_bwd),
      num(r.bytes_fwd),
      num(r.bytes_bwd),
    ]);
    if (r.src_ip !== r.dst_ip) linked.add(r.src_ip).add(r.dst_ip);
    for (const [host, col] of [[r.src_ip, "conn_src_community"], [r.dst_ip, "conn_dst_community"]]) {
      const id = r[col];
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
        problems.push(`${at}: ${col} = ${id}, not a community id`);
        continue;
      }
      const had = g.communities[host];
      if (had === undefined) {
        // Numbered by first appearance: a host seen for the first time has a known id or the next one.
        if (id > next) problems.push(`${at}: ${col} = ${id} appears before community ${next}`);
        if (id === next) next++;
        g.communities[host] = id;
      } else if (had !== id) problems.push(`${at}: ${col} = ${id} but host ${host} is in community ${had}`);
    }
    const same = r.conn_src_community === r.conn_dst_community;
    if (r.conn_same_community !== same) {
      problems.push(`${at}: conn_same_community = ${r.conn_same_community}, ids say ${same}`);
    }
  });
  // Hosts without an edge in the undirected graph (no flow, or only flows to themselves) are alone.
  const size = new Map<number, number>();
  for (const id of Object.values(g.communities)) size.set(id, (size.get(id) ?? 0) + 1);
  for (const [host, id] of Object.entries(g.communities)) {
    if (!linked.has(host) && size.get(id) !== 1) {
      problems.push(`${name}: host ${host} has no edge but shares community ${id}`);
    }
  }
  return g;
}

async function runOracle(graphs: Graph[]): Promise<{ networkx: string; graphs: OracleGraph[] }> {
  const input = JSON.stringify({
    graphs: graphs.map((g) => ({ name: g.name, flows: g.flows, communities: g.communities })),
  });
  const r = await run(PYTHON!, [ORACLE], { stdin: input });
  assert.equal(r.code, 0, `${ORACLE} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

function close(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= REL * Math.max(Math.abs(a), Math.abs(b));
}

/** Compares every flow's columns and the communities' checks; returns the number of flows compared. */
function compare(g: Graph, o: OracleGraph, problems: string[]): number {
  assert.equal(
    o.expected.length,
    g.used.length,
    `${g.name}: the oracle answered for another number of flows`,
  );
  g.used.forEach((ri, k) => {
    const r = g.records[ri], want = o.expected[k];
    const at = `${g.name} ${flowName(r, ri)}`;
    for (const c of INT_COLUMNS) {
      if (r[c] !== want[c]) problems.push(`${at}: ${c}: jj ${r[c]}, networkx ${want[c]}`);
    }
    for (const c of FLOAT_COLUMNS) {
      const a = r[c], b = want[c];
      const ok = a === null || b === null ? a === b : typeof a === "number" && close(a, b);
      if (!ok) problems.push(`${at}: ${c}: jj ${a}, networkx ${b}`);
    }
  });
  const l = o.louvain;
  if (o.undirected_edges === 0) {
    const ids = new Set(Object.values(g.communities));
    if (ids.size !== o.nodes) {
      problems.push(`${g.name}: no edges, yet ${ids.size} communities of ${o.nodes} hosts`);
    }
  } else if (l === null || !l.is_partition) {
    problems.push(`${g.name}: the communities are not a partition of the hosts`);
  } else {
    if (l.modularity < l.singletons_modularity - Q_EPS) {
      problems.push(
        `${g.name}: modularity ${l.modularity} of the communities is below that of singletons ` +
          `${l.singletons_modularity}`,
      );
    }
    if (l.best_merge_gain !== null && l.best_merge_gain > Q_EPS) {
      problems.push(
        `${g.name}: merging communities ${l.best_merge_pair} raises modularity by ${l.best_merge_gain} ` +
          `(from ${l.modularity}): not a Louvain end state`,
      );
    }
  }
  return g.used.length;
}

function summary(graphs: Graph[], oracle: OracleGraph[]): string {
  let q = 0, nq = 0, n = 0;
  for (const o of oracle) {
    if (o.louvain?.is_partition) {
      q += o.louvain.modularity;
      nq += o.louvain.networkx_louvain_modularity;
      n++;
    }
  }
  const flows = graphs.reduce((s, g) => s + g.used.length, 0);
  return `${graphs.length} graphs, ${flows} flows, ${
    oracle.reduce((s, o) => s + o.nodes, 0)
  } hosts; mean modularity over ${n} graphs with edges: jj ${(q / n).toFixed(4)}, networkx louvain ${
    (nq / n).toFixed(4)
  }`;
}

function report(problems: string[]): void {
  assert.equal(
    problems.length,
    0,
    `${problems.length} mismatches with networkx:\n${problems.slice(0, 40).join("\n")}`,
  );
}

function capturePaths(): string[] {
  return [...Deno.readDirSync(CAPTURES)]
    .filter((e) => e.isFile)
    .map((e) => `${CAPTURES}/${e.name}`)
    .sort();
}

Deno.test({
  name:
    "connection vs networkx: every corpus capture, each its own run and graph, every column of every flow",
  ignore: reason !== "",
  async fn() {
    const problems: string[] = [];
    const graphs: Graph[] = [];
    for (const path of capturePaths()) {
      graphs.push(await extractGraph(path.slice(CAPTURES.length + 1), [path], problems));
    }
    const out = await runOracle(graphs);
    let flows = 0;
    graphs.forEach((g, i) => flows += compare(g, out.graphs[i], problems));
    console.log(`networkx ${out.networkx}: ${summary(graphs, out.graphs)}`);
    assert.ok(graphs.length > 0 && flows > 0, "no flows were compared");
    report(problems);
  },
});

Deno.test({
  name: "connection vs networkx: the whole corpus in one run is one graph over every input's flows",
  ignore: reason !== "",
  async fn() {
    const problems: string[] = [];
    const paths = capturePaths();
    const g = await extractGraph(`all ${paths.length} captures`, paths, problems);
    const out = await runOracle([g]);
    const flows = compare(g, out.graphs[0], problems);
    console.log(`networkx ${out.networkx}: ${summary([g], out.graphs)}`);
    assert.ok(flows > 0, "no flows were compared");
    // Hosts shared by captures join their graphs: some betweenness is not 0, unlike in a single-flow capture.
    assert.ok(g.records.some((r) => num(r.conn_src_betweenness) > 0 || num(r.conn_dst_betweenness) > 0));
    report(problems);
  },
});
