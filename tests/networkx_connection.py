#!/usr/bin/env python3
"""Independent oracle for the `connection` feature group (tests/networkx_connection_test.ts), with networkx.

Reads JSON on stdin: {"graphs": [{"name": str, "flows": [[src, dst, dst_port, packets_fwd, packets_bwd,
bytes_fwd, bytes_bwd], ...], "communities": {host: id} | null}]}, one graph per extraction run, flows in
record order. Writes JSON on stdout: {"networkx": version, "graphs": [{"name", "nodes", "edges",
"undirected_edges", "expected": [{column: value} per flow], "louvain": {...} | null}]}.

The graphs, as the columns' descriptions define them:
  * a MultiDiGraph with one edge per flow, initiator -> responder (self loops kept): per-host flow, port,
    packet and byte counts;
  * the DiGraph of it (an edge per distinct initiator -> responder pair, self loops kept): out/in degree and
    betweenness_centrality(normalized=True), which networkx scales by 1 / ((n - 1)(n - 2)) for directed
    graphs, n the hosts of the whole graph; null for hosts in weakly connected parts whose hosts times
    edges exceed BETWEENNESS_MAX_WORK;
  * the undirected Graph without self loops, edge weight = flows between the two hosts both ways:
    clustering() (unweighted) and the modularity of the given community partition (weighted, resolution 1).

Louvain is a heuristic, so its communities are not recomputed but checked: `louvain` gives the modularity of
the given partition, of the all-singletons partition (Louvain starts there and only makes improving moves),
the largest modularity gain of merging two communities joined by an edge (Louvain ends after a level where
no community, as a node of the aggregated graph, gains by joining a neighbouring one: it must be <= 0), and
for information the modularity of networkx's own louvain_communities(seed=0).

Works with networkx 2.8 (Debian 12's python3-networkx) and 3.x.
"""
import json
import sys

import networkx as nx

# jj's bound (extractors/connection.ts): the work of every weakly connected part, hosts x (hosts + edges), summed
# over the parts taken smallest first; the hosts of the parts past it have no betweenness (null).
BETWEENNESS_MAX_WORK = 3e8


def oracle(graph):
    flows = graph["flows"]
    multi = nx.MultiDiGraph()
    for src, dst, port, pf, pb, bf, bb in flows:
        multi.add_node(src)
        multi.add_node(dst)
        multi.add_edge(src, dst, port=port, pf=pf, pb=pb, bf=bf, bb=bb)
    digraph = nx.DiGraph(multi)
    undirected = nx.Graph()
    undirected.add_nodes_from(multi.nodes)
    for src, dst, *_ in flows:
        if src == dst:
            continue
        w = undirected.get_edge_data(src, dst, {"weight": 0})["weight"]
        undirected.add_edge(src, dst, weight=w + 1)

    between = nx.betweenness_centrality(digraph, normalized=True)
    parts = []
    for part in nx.weakly_connected_components(digraph):
        hosts = len(part)
        parts.append((hosts * (hosts + digraph.subgraph(part).number_of_edges()), part))
    budget = BETWEENNESS_MAX_WORK
    for work, part in sorted(parts, key=lambda p: p[0]):
        if len(part) < 3:
            continue
        if work > budget:
            for v in part:
                between[v] = None
        else:
            budget -= work
    clustering = nx.clustering(undirected)

    def started(h, a, b):
        # Both directions of the flows h started (JoyfulJay's totals "sent by source").
        return multi.out_degree(h, weight=a) + multi.out_degree(h, weight=b)

    def answered(h, a, b):
        # Both directions of the flows h answered ("received by destination").
        return multi.in_degree(h, weight=a) + multi.in_degree(h, weight=b)

    expected = []
    for src, dst, port, *_ in flows:
        expected.append({
            "conn_src_unique_dsts": len(set(multi.successors(src))),
            "conn_dst_unique_srcs": len(set(multi.predecessors(dst))),
            "conn_src_dst_flows": multi.number_of_edges(src, dst),
            "conn_src_port_flows": sum(1 for _, d, p in multi.out_edges(src, data="port") if d == dst and p == port),
            "conn_src_total_flows": multi.out_degree(src),
            "conn_dst_total_flows": multi.in_degree(dst),
            "conn_src_total_packets": started(src, "pf", "pb"),
            "conn_src_total_bytes": started(src, "bf", "bb"),
            "conn_dst_total_packets": answered(dst, "pf", "pb"),
            "conn_dst_total_bytes": answered(dst, "bf", "bb"),
            "conn_src_unique_ports": len({p for _, _, p in multi.out_edges(src, data="port")}),
            "conn_src_out_degree": digraph.out_degree(src),
            "conn_dst_in_degree": digraph.in_degree(dst),
            "conn_src_betweenness": between[src],
            "conn_dst_betweenness": between[dst],
            "conn_src_clustering": clustering[src],
            "conn_dst_clustering": clustering[dst],
        })

    louvain = None
    given = graph.get("communities")
    if given is not None and undirected.number_of_edges() > 0:
        louvain = check_partition(undirected, given)
    return {
        "name": graph["name"],
        "nodes": multi.number_of_nodes(),
        "edges": digraph.number_of_edges(),
        "undirected_edges": undirected.number_of_edges(),
        "expected": expected,
        "louvain": louvain,
    }


def check_partition(g, given):
    groups = {}
    for host, cid in given.items():
        groups.setdefault(cid, set()).add(host)
    partition = list(groups.values())
    if not nx.community.is_partition(g, partition):
        return {"is_partition": False}
    q = nx.community.modularity(g, partition, weight="weight")
    singletons = nx.community.modularity(g, [{v} for v in g], weight="weight")
    # Every pair of communities joined by an edge, merged: the modularity gain, by networkx.
    adjacent = {tuple(sorted((given[u], given[v]))) for u, v in g.edges if given[u] != given[v]}
    best_gain, best_pair = None, None
    for a, b in sorted(adjacent):
        merged = [c for cid, c in groups.items() if cid not in (a, b)] + [groups[a] | groups[b]]
        gain = nx.community.modularity(g, merged, weight="weight") - q
        if best_gain is None or gain > best_gain:
            best_gain, best_pair = gain, [a, b]
    ours = nx.community.louvain_communities(g, weight="weight", seed=0)
    return {
        "is_partition": True,
        "communities": len(partition),
        "modularity": q,
        "singletons_modularity": singletons,
        "best_merge_gain": best_gain,
        "best_merge_pair": best_pair,
        "networkx_louvain_modularity": nx.community.modularity(g, ours, weight="weight"),
        "networkx_louvain_communities": len(ours),
    }


def main():
    data = json.load(sys.stdin)
    out = {"networkx": nx.__version__, "graphs": [oracle(g) for g in data["graphs"]]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
