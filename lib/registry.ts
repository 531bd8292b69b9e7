/**
 * Which feature groups run: the built-in ones, plus extractors registered by the user.
 *
 * @module
 */
import type { FeatureExtractor } from "./extractor.ts";
import { checkExtractor, OPTIONAL_FEATURES, OptionError, splitName } from "./options.ts";
import { LABEL_FEATURES } from "./subnets.ts";
import { idpExtractor, ipfixCountersExtractor } from "../outputs/ipfix.ts";
import {
  BUILTIN_EXTRACTORS,
  entropyExtractor,
  entropyExtractorWith,
  paddingExtractor,
  paddingExtractorWith,
  timingExtractor,
  timingExtractorWith,
} from "../extractors/mod.ts";

// deno-lint-ignore no-explicit-any
const registered: FeatureExtractor<any>[] = [];

/**
 * Adds a user extractor: later extractions run it after the built-in groups by default and with `all`, and
 * `features` (`--features`) can name it; one with `finalize` (it needs every flow, as `connection`) runs only
 * when named. Registering the same object again does nothing (a module may register its own extractor and
 * still be given to `--extractor`). It runs in this thread only: `extractJsonlParallel`'s workers load
 * extractors from their modules (`extractorModules`).
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
  // A malformed one would make every later extraction in the process fail, far from its cause.
  checkExtractor(extractor, "registerExtractor");
  const all = allExtractors();
  // A module that registers its extractor itself, also loaded by --extractor (or twice), registers it once.
  if (registered.includes(extractor)) return;
  if (all.some((e) => e.name === extractor.name)) {
    throw new Error(`an extractor named ${extractor.name} is already registered`);
  }
  // Registered extractors are the CLI's --extractor modules too: the columns its options add are taken.
  const names = takenColumnNames(all, true);
  for (const f of extractor.features) {
    // Under --bidirectional-split's names too: taken holds both forms of the others', so either order is caught.
    if (names.has(f.name) || names.has(splitName(f.name))) {
      throw new Error(
        `feature ${f.name} of ${extractor.name} is already declared by another group or option`,
      );
    }
  }
  registered.push(extractor);
}

/**
 * Column names a user extractor may not declare: those of `groups`, the optional columns (`flow_id`, `splt`,
 * ...), with `cliColumns` the columns CLI options add (`--label`, `--ipfix`, `--ipfix-template idp`), and the
 * names `--bidirectional-split` gives all of these: a second column of one name would replace the first's
 * value (JSON) or repeat it (a CSV header).
 *
 * @example
 * ```ts
 * import { allExtractors, takenColumnNames } from "./registry.ts";
 * const taken = takenColumnNames(allExtractors(), true);
 * console.log(taken.has("flow_id"), taken.has("src_labels"), taken.has("total_burst_count")); // true true true
 * ```
 */
// deno-lint-ignore no-explicit-any
export function takenColumnNames(groups: readonly FeatureExtractor<any>[], cliColumns = false): Set<string> {
  const names = new Set<string>();
  const add = (n: string) => names.add(n).add(splitName(n));
  for (const e of groups) for (const f of e.features) add(f.name);
  for (const f of OPTIONAL_FEATURES) add(f.name);
  if (cliColumns) {
    for (const f of [...LABEL_FEATURES, ...ipfixCountersExtractor().features, ...idpExtractor().features]) {
      add(f.name);
    }
  }
  return names;
}

/**
 * True when `e` was added with {@linkcode registerExtractor} (a user extractor, not a built-in group).
 *
 * @example
 * ```ts
 * import { isRegistered } from "./registry.ts";
 * import { timingExtractor } from "../extractors/mod.ts";
 * console.log(isRegistered(timingExtractor)); // false
 * ```
 */
export function isRegistered(e: FeatureExtractor<unknown>): boolean {
  return registered.includes(e);
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
 * The groups to run for a `--features` list. `all` or absent: every streaming group, that is every group but
 * those that need all flows at once (`connection`), which run only when named (`--features all,connection`).
 * `flow_meta` is always first. Throws with the list of valid names on an unknown one.
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
  const registered = allExtractors();
  // An extractor both registered and given for the run (a module that registers itself) runs once.
  const all = [...registered, ...extra.filter((e) => !registered.includes(e))];
  // `all` means every streaming group: a group with `finalize` (connection) needs every flow before it can
  // write one, so it holds all records in memory and must be asked for by name.
  const streaming = all.filter((e) => e.finalize === undefined || extra.includes(e));
  if (!features || features.length === 0) return streaming;
  const byName = new Map(all.map((e) => [e.name, e]));
  for (const f of features) {
    if (f !== "all" && !byName.has(f)) {
      throw new OptionError(
        "features",
        "--features",
        `group names among all, ${[...byName.keys()].join(", ")}`,
        f,
      );
    }
  }
  const everyStreaming = features.includes("all");
  return all.filter((e) =>
    e.name === "flow_meta" || features.includes(e.name) || extra.includes(e) ||
    (everyStreaming && e.finalize === undefined)
  );
}

/** Settings of built-in groups that a run can change. */
export interface GroupSettings {
  /** Gap below which packets join a burst (`timing`, `padding`), milliseconds; default 50. */
  burstThresholdMs?: number;
  /** Payload bytes sampled per direction by `entropy`; default 256. */
  entropySampleBytes?: number;
}

/**
 * The same groups, with the built-in ones that take settings replaced by instances carrying this run's settings:
 * each run has its own, so two extractions in one process never see each other's.
 *
 * @example
 * ```ts
 * import { configureGroups, selectExtractors } from "./registry.ts";
 * const groups = configureGroups(selectExtractors(["timing"]), { burstThresholdMs: 100 });
 * console.log(groups.map((g) => g.name)); // ["flow_meta", "timing"]
 * ```
 */
export function configureGroups(
  // deno-lint-ignore no-explicit-any
  groups: FeatureExtractor<any>[],
  settings: GroupSettings,
  // deno-lint-ignore no-explicit-any
): FeatureExtractor<any>[] {
  // Unset settings stay undefined: each group's own defaults apply.
  const ms = settings.burstThresholdMs;
  const burst = ms === undefined ? undefined : ms / 1000;
  return groups.map((g) => {
    if (g === timingExtractor) return timingExtractorWith({ burstThreshold: burst });
    if (g === paddingExtractor) return paddingExtractorWith({ burstThreshold: burst });
    if (g === entropyExtractor) return entropyExtractorWith({ sampleBytes: settings.entropySampleBytes });
    return g;
  });
}
