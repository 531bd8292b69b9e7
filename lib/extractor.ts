/**
 * The contract every feature group follows, built-in or user-written. It keeps NFStream's lifecycle rather than
 * JoyfulJay's data model: a group never sees a list of packets, only one packet at a time, and keeps what it
 * needs in its own per-flow state, so memory per flow stays bounded whatever the flow's length.
 *
 * Lifecycle of one flow, for each selected group in registry order:
 *
 * 1. `init(flow)` when the flow's first packet arrives (before that packet is counted): returns the group's state.
 * 2. `update(state, pkt, flow, dir)` for every packet of the flow, the first one included.
 * 3. `finish(state, flow, out)` once, when the flow ends (timeout, FIN/RST, eviction or end of input). `out`
 *    already holds every declared column set to `null`, in output order, and the columns of the groups that
 *    finished before this one; a group writes its own columns and leaves a value `null` when it is undefined.
 * 4. `finalize(records)`, only for groups that declare it, once at the end of input with every record.
 *
 * Rules a group must keep (the pipeline relies on them for speed and bounded memory):
 *
 * - Declare every column the group writes in `features` (the record is built from the declarations; a key that
 *   is not declared makes the record slow and is not written by some outputs). Names are unique across groups.
 * - `pkt` and its `buf` are valid only during `update`: copy numbers out, never keep the view or a subarray.
 * - Do not allocate per packet where avoidable: plain number fields and small plain arrays in a state class.
 *   Creating a typed array costs about a microsecond, so avoid one per flow; allocate lazily what few flows need.
 * - Bound what is kept per flow (a fixed cap on samples, buffers and sets), whatever the flow's length.
 * - Never throw on malformed input: a value that cannot be read is `null`.
 *
 * @module
 */
import type { PacketView } from "./packet.ts";
import type { FlowState } from "./flow.ts";

/**
 * Type of a feature's value, as the JoyfulJay reference documents it.
 *
 * @example
 * ```ts
 * import type { FeatureType } from "./extractor.ts";
 * const types: FeatureType[] = ["int", "float", "str", "bool", "list", "dict"];
 * console.log(types.length); // 6
 * ```
 */
export type FeatureType = "int" | "float" | "str" | "bool" | "list" | "dict";

/**
 * One declared feature.
 *
 * @example
 * ```ts
 * import type { FeatureSpec } from "./extractor.ts";
 * const spec: FeatureSpec = { name: "syn_count", type: "int", description: "SYN packets in the flow." };
 * console.log(spec.name); // syn_count
 * ```
 */
export interface FeatureSpec {
  /** Column name (JoyfulJay's where one exists). */
  name: string;
  /** Value type; every feature may also be `null` when undefined for the flow. */
  type: FeatureType;
  /** One sentence saying what the value means. */
  description: string;
}

/**
 * A value of a flow record.
 *
 * @example
 * ```ts
 * import type { FeatureValue } from "./extractor.ts";
 * const values: FeatureValue[] = [42, 0.5, "10.0.0.1", true, null, [1, 2], { "Host": "example.org" }];
 * console.log(values.length); // 7
 * ```
 */
export type FeatureValue = string | number | boolean | null | readonly unknown[] | Record<string, unknown>;

/**
 * A flow record: column name to value.
 *
 * @example
 * ```ts
 * import type { FlowRecord } from "./extractor.ts";
 * const record: FlowRecord = { src_ip: "10.0.0.1", dst_port: 443, iat_mean: null };
 * console.log(JSON.stringify(record)); // {"src_ip":"10.0.0.1","dst_port":443,"iat_mean":null}
 * ```
 */
export type FlowRecord = Record<string, FeatureValue>;

/**
 * Direction of a packet within its flow: 0 from the initiator, 1 from the responder.
 *
 * @example
 * ```ts
 * import type { Direction } from "./extractor.ts";
 * const counts = [0, 0];
 * const packets: Direction[] = [0, 1, 1, 0, 1];
 * for (const dir of packets) counts[dir]++;
 * console.log(counts); // [ 2, 3 ]: initiator, responder
 * ```
 */
export type Direction = 0 | 1;

/**
 * A feature group. `init` runs when a flow is created, `update` for each of its packets, `finish` once when the
 * flow leaves the table and writes the names in `features` into `out` (see the module documentation for the full
 * lifecycle and rules). User extractors follow the same contract: pass them to `registerExtractor()`, to
 * `extractFlows(src, { extractors: [...] })`, or name their module with `jj extract --extractor FILE`.
 *
 * @example
 * ```ts
 * import type { FeatureExtractor } from "./extractor.ts";
 * const counter: FeatureExtractor<{ n: number }> = {
 *   name: "my_count",
 *   features: [{ name: "my_packets", type: "int", description: "Packets seen." }],
 *   init: () => ({ n: 0 }),
 *   update: (s) => {
 *     s.n++;
 *   },
 *   finish: (s, _flow, out) => {
 *     out.my_packets = s.n;
 *   },
 * };
 * ```
 */
export interface FeatureExtractor<S = unknown> {
  /** Group name, used by `--features` (lower case, letters, digits and `_`). */
  readonly name: string;
  /** The features this group writes, in output order. */
  readonly features: readonly FeatureSpec[];
  /**
   * Optional: true when `update` reads `PacketView.datagram`, the UDP datagrams that IP fragmentation split,
   * put together. The decoder reassembles them only when a group of the run asks (it holds fragments to do so).
   */
  readonly datagrams?: boolean;
  /** Creates the group's state for a new flow; `flow` has its addresses, ports, protocol and first time set. */
  init(flow: FlowState): S;
  /** Folds one packet of the flow into the state. `pkt` is only valid during the call; `dir` 0 is the
   * initiator's. */
  update(state: S, pkt: PacketView, flow: FlowState, dir: Direction): void;
  /** Writes the group's features for the finished flow into `out` (which starts with every column null). */
  finish(state: S, flow: FlowState, out: FlowRecord): void;
  /**
   * Optional, for groups whose values depend on every flow (the `connection` graph): called once at the end of
   * input with all records, in output order, after every `finish`; it fills the group's columns in place. When a
   * selected group has it, records are held until the end of input instead of streaming out as flows end.
   */
  finalize?(records: FlowRecord[]): void;
}
