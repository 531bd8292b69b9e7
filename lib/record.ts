/**
 * The memory layout of flow records, chosen for `JSON.stringify`: one record per flow with 100-400 columns makes
 * serialisation the largest per-flow cost of a run, and V8 serialises an object through its fast path only when
 *
 * - the object is in fast mode (an object literal or an object grown key by key falls into dictionary mode past
 *   128 properties; objects made by a constructor that assigns every property stay in fast mode),
 * - its prototype is `Object.prototype` (a constructor's own prototype sends it to the slow path), and
 * - its string values are flat: a string built by concatenation (an address `a.b.c.d`, a hash in hex) is a rope
 *   in V8 until something flattens it, and one such value sends the whole record to the slow path.
 *
 * Measured on the 17,077 records of big-50: with the four foundation groups (133 columns) 5.8 µs per record
 * before, 3.0 µs with all three; with every group (414 columns) 17 µs before, 7.4 µs after.
 *
 * @module
 */
import type { FlowRecord } from "./extractor.ts";

/**
 * A constructor of records with the given columns, in order. Without `from`, every column starts null; with
 * `from` (one source column per column), it copies those columns of the record it is given.
 *
 * @example
 * ```ts
 * import { recordClass } from "./record.ts";
 * const Empty = recordClass(["a", "b"]);
 * const Renamed = recordClass(["x"], ["b"]);
 * const r = new Empty();
 * r.b = 2;
 * console.log(JSON.stringify(r), JSON.stringify(new Renamed(r))); // {"a":null,"b":2} {"x":2}
 * ```
 */
export function recordClass(
  columns: readonly string[],
  from?: readonly string[],
): new (r?: FlowRecord) => FlowRecord {
  // Names are quoted with JSON.stringify, so no name can escape its string literal.
  const body = columns.map((c, i) =>
    `this[${JSON.stringify(c)}] = ${from ? `r[${JSON.stringify(from[i])}]` : "null"};`
  ).join("\n");
  const Record = new Function("r", body) as new (r?: FlowRecord) => FlowRecord;
  // Records are plain objects to their readers, and to the JSON fast path.
  Record.prototype = Object.prototype;
  return Record;
}

/**
 * A function that sets every one of `columns` of a record back to null, so that a record can be reused for
 * another flow. Generated, like {@linkcode recordClass}, so that each column is written by name.
 *
 * @example
 * ```ts
 * import { recordClass, recordClearer } from "./record.ts";
 * const Record = recordClass(["a", "b"]);
 * const clear = recordClearer(["a", "b"]);
 * const r = new Record();
 * r.a = 1;
 * clear(r);
 * console.log(JSON.stringify(r)); // {"a":null,"b":null}
 * ```
 */
export function recordClearer(columns: readonly string[]): (record: FlowRecord) => void {
  const body = columns.map((c) => `r[${JSON.stringify(c)}] = null;`).join("\n");
  return new Function("r", body) as (record: FlowRecord) => void;
}

/** V8 makes no rope shorter than this (`ConsString::kMinLength`): shorter strings are always flat. */
const ROPE_MIN = 13;
/** Longer strings are left as they are: the copy is an argument list, and long values are rare. */
const COPY_MAX = 8192;
const codes: number[] = [];

/**
 * A flat copy of `s`, code unit for code unit. Only a new string is flat for JSON.stringify's fast path: a rope
 * flattened in place stays a rope to it, and `slice(0)` returns the rope itself.
 *
 * @example
 * ```ts
 * import { flatString } from "./record.ts";
 * console.log(flatString("10.0.0." + 1 + "/" + "255.255.255.0")); // 10.0.0.1/255.255.255.0
 * ```
 */
export function flatString(s: string): string {
  const n = s.length;
  if (n < ROPE_MIN || n > COPY_MAX) return s;
  codes.length = n;
  for (let i = 0; i < n; i++) codes[i] = s.charCodeAt(i);
  return String.fromCharCode.apply(null, codes);
}

/** What {@linkcode flattenStrings} makes. */
export type Flatten = (record: FlowRecord) => void;

/** Replaces the long strings of a list by flat copies: in place, or in a copy when the list is frozen (a user
 * extractor's `Object.freeze([...])`, which its type allows). Returns the list that holds them. */
function flattenList(list: unknown[]): unknown[] {
  let out = list;
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (typeof v === "string" && v.length >= ROPE_MIN) {
      if (out === list && Object.isFrozen(list)) out = list.slice();
      out[i] = flatString(v);
    }
  }
  return out;
}

/**
 * A function that replaces each string value of the `strings` columns, and each string element of the `lists`
 * columns, by a flat copy ({@linkcode flatString}); other values are left alone. Generated, so that each column
 * is read and written by name (a loop over names would make one megamorphic access per column).
 *
 * @example
 * ```ts
 * import { flattenStrings } from "./record.ts";
 * const flatten = flattenStrings(["src_ip"], ["names"]);
 * const r = { src_ip: "192.168." + 26 + "." + 134, names: ["a"], n: 1 };
 * flatten(r);
 * console.log(r.src_ip); // 192.168.26.134
 * ```
 */
export function flattenStrings(strings: readonly string[], lists: readonly string[] = []): Flatten {
  const body = [
    ...strings.map((c) => {
      const k = JSON.stringify(c);
      return `v = r[${k}]; if (typeof v === "string" && v.length >= ${ROPE_MIN}) r[${k}] = flat(v);`;
    }),
    ...lists.map((c) => {
      const k = JSON.stringify(c);
      return `v = r[${k}]; if (Array.isArray(v)) { w = flatList(v); if (w !== v) r[${k}] = w; }`;
    }),
  ].join("\n");
  const make = new Function("flat", "flatList", `return (r) => {\nlet v, w;\n${body}\n};`);
  return make(flatString, flattenList) as Flatten;
}
