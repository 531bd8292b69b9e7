/**
 * The contract every feature group follows. It keeps NFStream's lifecycle rather than JoyfulJay's data model:
 * a group never sees a list of packets, only one packet at a time, and keeps what it needs in its own per-flow
 * state, so memory per flow stays bounded whatever the flow's length.
 *
 * @module
 */
import type { PacketView } from "./packet.ts";
import type { FlowState } from "./flow.ts";

/** Type of a feature's value, as the JoyfulJay reference documents it. */
export type FeatureType = "int" | "float" | "str" | "bool" | "list" | "dict";

/** One declared feature. */
export interface FeatureSpec {
  /** Column name (JoyfulJay's where one exists). */
  name: string;
  /** Value type; every feature may also be `null` when undefined for the flow. */
  type: FeatureType;
  /** One sentence saying what the value means. */
  description: string;
}

/** A value of a flow record. */
export type FeatureValue = string | number | boolean | null | readonly unknown[] | Record<string, unknown>;

/** A flow record: column name to value. */
export type FlowRecord = Record<string, FeatureValue>;

/** Direction of a packet within its flow: 0 from the initiator, 1 from the responder. */
export type Direction = 0 | 1;

/**
 * A feature group. `init` runs when a flow is created, `update` for each of its packets, `finish` once when the
 * flow leaves the table and must write exactly the names in `features` into `out`.
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
  /** Group name, used by `--features`. */
  readonly name: string;
  /** The features this group writes, in output order. */
  readonly features: readonly FeatureSpec[];
  /** Creates the group's state for a new flow. */
  init(flow: FlowState): S;
  /** Folds one packet of the flow into the state. `pkt` is only valid during the call. */
  update(state: S, pkt: PacketView, flow: FlowState, dir: Direction): void;
  /** Writes the group's features for the finished flow. */
  finish(state: S, flow: FlowState, out: FlowRecord): void;
}
