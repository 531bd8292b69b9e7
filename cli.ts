/**
 * `jj`: the command line. Subcommands read captures or JSON Lines and write JSON Lines on stdout, so they
 * compose with pipes: `deno run -A cli.ts extract x.pcap | jq`. Each subcommand lives in `lib/cli/`.
 *
 * Exit codes: 0 ok, 1 input or runtime error, 2 usage error, 130 `extract` stopped by a signal (its flows held
 * written).
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { InputError } from "./lib/extract.ts";
import { allExtractors } from "./lib/registry.ts";
import { OPTIONAL_FEATURES, OptionError, SettingsError } from "./lib/options.ts";
import { refuseRepeatedOptions, UsageError } from "./lib/cli/common.ts";
import { OutputChoiceError } from "./outputs/mod.ts";
import { addExtractCommand, loadUserExtractors, OPTION_COLUMNS } from "./lib/cli/extract.ts";
import { collect } from "./lib/cli/label_subnets.ts";
import { addAnonCommand } from "./lib/cli/anon.ts";
import { addLabelSubnetsCommand } from "./lib/cli/label_subnets.ts";
import { addCompletionsCommand } from "./lib/cli/completions.ts";
import { addLiveCommand } from "./lib/cli/live.ts";
import { addFingerprintCommand } from "./lib/cli/fingerprint.ts";
import { LibpcapUnavailableError, PcapFilterError } from "./ffi/libpcap.ts";

/** The version printed by `--version`. */
export const VERSION = "0.1.0";

/**
 * Builds the command tree (exported for tests and completions). `setResult` receives the running action's
 * exit-code promise.
 *
 * @example
 * ```ts
 * import { buildProgram } from "./cli.ts";
 * console.log(buildProgram().commands.map((c) => c.name()).includes("extract")); // true
 * ```
 */
export function buildProgram(setResult: (p: Promise<number>) => void = () => {}): Command {
  const program = new Command("jj")
    .description(
      "Per-flow features from packet captures and live traffic, as JSON Lines (or CSV, Parquet, Joy's JSON).",
    )
    .version(VERSION, "-V, --version")
    .exitOverride();
  const enc = new TextEncoder();
  program.configureOutput({
    writeErr: (s) => Deno.stderr.writeSync(enc.encode(s)),
    writeOut: (s) => Deno.stdout.writeSync(enc.encode(s)),
    // One line, as every other error: the usage hint goes on it rather than on a line of its own.
    outputError: (s, write) => write(`jj: ${oneLine(s)} (run with --help for usage)\n`),
  });

  addExtractCommand(program, setResult);
  addAnonCommand(program, setResult);
  addLabelSubnetsCommand(program, setResult);
  addCompletionsCommand(program, setResult);
  addLiveCommand(program, setResult);
  addFingerprintCommand(program, setResult);

  program.command("features")
    .description(
      "List every feature with its group, type and description, then the optional columns (group optional) " +
        "with the option that adds them.",
    )
    .option("--markdown", "write a Markdown table")
    .option(
      "--extractor <file>",
      "also list the features of the extractors of a module (repeatable)",
      collect,
    )
    .action((o: { markdown?: boolean; extractor?: string[] }) => setResult(listFeatures(o)));
  // Only the options that gather their values (--label, --extractor) may come more than once.
  refuseRepeatedOptions(program, (option) => option.parseArg === collect);
  return program;
}

/** `jj features`: every column, the extractors' of `--extractor` modules too. */
async function listFeatures(o: { markdown?: boolean; extractor?: string[] }): Promise<number> {
  await loadUserExtractors(o.extractor);
  const lines: string[] = [];
  for (const e of allExtractors()) {
    for (const f of e.features) {
      lines.push(
        o.markdown
          ? `| ${f.name} | ${e.name} | ${f.type} | ${f.description} |`
          : JSON.stringify({ name: f.name, group: e.name, type: f.type, description: f.description }),
      );
    }
  }
  // Columns written only when an option asks for them (or --specific-features names them).
  const optional = [
    ...OPTIONAL_FEATURES.map((f) => ({ ...f, option: `--${f.option.replaceAll("_", "-")}` })),
    ...OPTION_COLUMNS,
  ];
  for (const f of optional) {
    const option = f.option;
    lines.push(
      o.markdown
        ? `| ${f.name} | optional | ${f.type} | ${f.description} Option: ${option}. |`
        : JSON.stringify({
          name: f.name,
          group: "optional",
          type: f.type,
          description: f.description,
          option,
        }),
    );
  }
  if (o.markdown) lines.unshift("| feature | group | type | description |", "| --- | --- | --- | --- |");
  console.log(lines.join("\n"));
  return 0;
}

/**
 * Runs the CLI with `args`; returns the exit code. Errors become one line on stderr, never a stack trace.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * const code = await main(["features"]);
 * console.log(code); // 0
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let result: Promise<number> = Promise.resolve(0);
  const program = buildProgram((p) => result = p);
  try {
    await program.parseAsync(args, { from: "user" });
    return await result;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help asked for, or the version: 0. Help shown for a mistake (no command at all, `help` of an unknown
      // command), which commander marks with a non-zero exit code: a usage error.
      const ok = ["commander.helpDisplayed", "commander.version"].includes(e.code) ||
        (e.code === "commander.help" && e.exitCode === 0);
      return ok ? 0 : 2;
    }
    // Usage errors; any other RangeError (a user extractor's, a stack overflow) is a runtime error below.
    if (
      e instanceof UsageError || e instanceof OptionError || e instanceof SettingsError ||
      e instanceof OutputChoiceError || e instanceof PcapFilterError
    ) {
      console.error(`jj: error: ${e.message}`);
      return 2;
    }
    if (e instanceof Deno.errors.BrokenPipe) return 0;
    if (e instanceof InputError || e instanceof LibpcapUnavailableError) {
      console.error(`jj: error: ${e.message}`);
      return 1;
    }
    console.error(`jj: error: ${oneLine(e instanceof Error ? e.message : String(e))}`);
    return 1;
  }
}

/** A message on one line (a user extractor's error can hold line breaks). */
function oneLine(message: string): string {
  return message.trim().replace(/\s*\n\s*/g, " ");
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
