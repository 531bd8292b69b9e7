/**
 * Which feature groups run: the built-in ones, plus extractors registered by the user.
 *
 * @module
 */
import type { FeatureExtractor } from "./extractor.ts";
import { BUILTIN_EXTRACTORS } from "../extractors/mod.ts";

// deno-lint-ignore no-explicit-any
const registered: FeatureExtractor<any>[] = [];

/**
 * Adds a user extractor; it runs on every later extraction after the built-in groups, and `--features` can
 * name it.
 *
 * @example
 * ```ts
 * import { registerExtractor } from "./registry.ts";
 * registerExtractor({
 *   name: "my_count",
 *   features: [{ name: "my_packets", type: "int", description: "Packets." }],
 *   init: () => ({ n: 0 }),
 *   update: (s) => void s.n++,
 *   finish: (s, _f, out) => void (out.my_packets = s.n),
 * });
 * ```
 */
export function registerExtractor<S>(extractor: FeatureExtractor<S>): void {
  const all = allExtractors();
  if (all.some((e) => e.name === extractor.name)) {
    throw new Error(`an extractor named ${extractor.name} is already registered`);
  }
  const names = new Set(all.flatMap((e) => e.features.map((f) => f.name)));
  for (const f of extractor.features) {
    if (names.has(f.name)) {
      throw new Error(`feature ${f.name} of ${extractor.name} is already declared by another group`);
    }
  }
  registered.push(extractor);
}

/**
 * Every known group: built-in first, then registered ones.
 *
 * @example
 * ```ts
 * import { allExtractors } from "./registry.ts";
 * console.log(allExtractors().map((e) => e.name).includes("timing")); // true
 * ```
 */
// deno-lint-ignore no-explicit-any
export function allExtractors(): FeatureExtractor<any>[] {
  return [...BUILTIN_EXTRACTORS, ...registered];
}

/**
 * The groups to run for a `--features` list (`all` or absent: every group). `flow_meta` is always first.
 * Throws with the list of valid names on an unknown one.
 *
 * @example
 * ```ts
 * import { selectExtractors } from "./registry.ts";
 * console.log(selectExtractors(["timing"]).map((e) => e.name)); // ["flow_meta", "timing"]
 * ```
 */
export function selectExtractors(
  features?: string[],
  extra: FeatureExtractor<unknown>[] = [],
  // deno-lint-ignore no-explicit-any
): FeatureExtractor<any>[] {
  const all = [...allExtractors(), ...extra];
  if (!features || features.length === 0 || features.includes("all")) return all;
  const byName = new Map(all.map((e) => [e.name, e]));
  for (const f of features) {
    if (!byName.has(f)) {
      throw new RangeError(
        `unknown feature group "${f}"; valid groups: all, ${[...byName.keys()].join(", ")}`,
      );
    }
  }
  return all.filter((e) => e.name === "flow_meta" || features.includes(e.name) || extra.includes(e));
}
