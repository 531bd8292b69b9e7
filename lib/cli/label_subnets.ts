/**
 * `jj label-subnets`: adds `src_labels` and `dst_labels` to each flow of a JSON Lines stream by longest-prefix
 * match of its addresses against `--label NAME:CIDR` / `--label NAME:FILE` networks.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { LABEL_FEATURES, SubnetLabeler } from "../subnets.ts";
import { planExtraction } from "../options.ts";
import { openRecordWriter, rewriteJsonLines } from "../../outputs/mod.ts";
import { checkInputFile, refuseNoRecords, refuseOutputAsInput, UsageError } from "./common.ts";

/**
 * Help text of `--label` (shared with `jj extract`).
 *
 * @example
 * ```ts
 * import { LABEL_OPTION_HELP } from "./label_subnets.ts";
 * console.log(LABEL_OPTION_HELP.includes("NAME:CIDR")); // true
 * ```
 */
export const LABEL_OPTION_HELP =
  "label flows whose src/dst address is in a network: NAME:CIDR or NAME:FILE (one CIDR per line); repeatable";

/**
 * Commander collector for a repeatable option.
 *
 * @example
 * ```ts
 * import { collect } from "./label_subnets.ts";
 * console.log(collect("b", ["a"])); // ["a", "b"]
 * ```
 */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * What each `--label NAME:CIDR|NAME:FILE` value names after its `NAME:`: the files among them are inputs of the
 * run, which `-o` must not overwrite.
 *
 * @example
 * ```ts
 * import { labelSources } from "./label_subnets.ts";
 * console.log(labelSources(["lab:10.0.0.0/8", "office:nets.txt"])); // [ "10.0.0.0/8", "nets.txt" ]
 * ```
 */
export function labelSources(labels: readonly string[] | undefined): string[] {
  return (labels ?? []).map((l) => l.slice(l.indexOf(":") + 1));
}

/**
 * Builds the labeller for `--label` values; a bad value is a usage error naming it.
 *
 * @example
 * ```ts
 * import { labelerFromOptions } from "./label_subnets.ts";
 * const l = await labelerFromOptions(["lab:10.0.0.0/8"]);
 * console.log(l?.labelsOf("10.1.1.1")); // ["lab"]
 * ```
 */
export async function labelerFromOptions(
  labels: readonly string[] | undefined,
): Promise<SubnetLabeler | null> {
  if (!labels || labels.length === 0) return null;
  try {
    return await SubnetLabeler.fromSpecs(labels);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
}

/** Options of `jj label-subnets`. */
export interface LabelCliOptions {
  label?: string[];
  output?: string;
  format?: string;
  quiet?: boolean;
}

/**
 * Runs `jj label-subnets`; returns the exit code.
 *
 * @example
 * ```ts
 * import { runLabelSubnets } from "./label_subnets.ts";
 * const code = await runLabelSubnets("flows.jsonl", { label: ["lab:10.0.0.0/8"], output: "labelled.jsonl" });
 * console.log(code); // 0
 * ```
 */
export async function runLabelSubnets(input: string | undefined, o: LabelCliOptions): Promise<number> {
  const labeler = await labelerFromOptions(o.label);
  if (labeler === null) {
    throw new UsageError("label-subnets needs at least one --label NAME:CIDR or NAME:FILE");
  }
  const source = input ?? "-";
  await checkInputFile(source);
  // A label file is an input too (NAME:FILE; for NAME:CIDR the part after the colon names no file).
  refuseOutputAsInput([source, ...labelSources(o.label)], o.output);
  // An input of no record gives the columns a default extract writes, and the labels (a Parquet file needs some).
  const writer = await openRecordWriter(o.output ?? "-", o.format, null, {
    columnsWhenEmpty: [...planExtraction({}).features, ...LABEL_FEATURES],
  });
  let labelled = 0;
  let addressed = false;
  const { records, bad } = await rewriteJsonLines(source, writer, (rec) => {
    if (!addressed && (typeof rec.src_ip === "string" || typeof rec.dst_ip === "string")) addressed = true;
    labeler.apply(rec);
    if ((rec.src_labels as string[]).length > 0 || (rec.dst_labels as string[]).length > 0) labelled++;
    return rec;
  });
  refuseNoRecords(source, records, bad);
  if (records > 0 && !addressed) {
    console.error(
      `jj: warning: ${
        source === "-" ? "<stdin>" : source
      }: no record has src_ip or dst_ip; nothing was labelled ` +
        "(Joy's records: the Joy API's labelSubnets labels them as Joy does)",
    );
  }
  if (!o.quiet) {
    console.error(
      `jj: ${records} records, ${labelled} labelled, ${labeler.map.size} network(s)${
        bad ? `, ${bad} malformed line(s) left out` : ""
      }`,
    );
  }
  return 0;
}

/**
 * Adds `label-subnets` to the program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addLabelSubnetsCommand } from "./label_subnets.ts";
 * addLabelSubnetsCommand(new Command("jj"), () => {});
 * ```
 */
export function addLabelSubnetsCommand(program: Command, setResult: (p: Promise<number>) => void): Command {
  return program.command("label-subnets")
    .description(
      "Add src_labels and dst_labels to JSON Lines flows by longest-prefix match of their addresses.",
    )
    .argument("[input]", "JSON Lines file (- or absent: stdin; gzip is decompressed)")
    .option("--label <spec>", LABEL_OPTION_HELP, collect)
    .option(
      "-o, --output <file>",
      "write to FILE instead of stdout (.gz compresses; .csv, .parquet by extension)",
    )
    .addOption(new Option("--format <format>", "output format").choices(["jsonl", "csv", "parquet"]))
    .option("-q, --quiet", "no summary on stderr")
    .addHelpText(
      "after",
      `
The longest matching network wins; several labels given for the same network are all listed. IPv4 and IPv6.
NAME comes first, always: --label 2001:db8::/32 is refused (write v6:2001:db8::/32). An IPv4-mapped
address (::ffff:10.1.2.3) is IPv6: IPv4 networks do not hold it. A name of hex digits
is a name only when the spec read whole is not a clean network: cafe:2001:db8::/32 is cafe on 2001:db8::/32
(read whole it has bits set past /32), 2001:db8::/32 is a bare network. A FILE lists one CIDR
per line (# comments); an empty one is an error.

Examples:
  jj extract capture.pcap | jj label-subnets --label lab:10.0.0.0/8 --label dmz:10.1.0.0/16 | jq .src_labels
  jj label-subnets --label internal:internal.net --label v6:2001:db8::/32 flows.jsonl -o labelled.parquet`,
    )
    .action((input: string | undefined, o: LabelCliOptions) => setResult(runLabelSubnets(input, o)));
}
