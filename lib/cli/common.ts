/**
 * Pieces every subcommand shares: usage errors (exit 2), option value parsers that name the option and the
 * accepted range, and number formatting for summaries.
 *
 * @module
 */
import { InvalidArgumentError } from "commander";

/**
 * A usage error: the CLI prints it on one line and exits 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./common.ts";
 * console.log(new UsageError("bad").message); // bad
 * ```
 */
export class UsageError extends Error {}

/**
 * Parser for a non-negative (or positive) number option.
 *
 * @example
 * ```ts
 * import { positiveNumber } from "./common.ts";
 * console.log(positiveNumber("--idle-timeout")("60")); // 60
 * ```
 */
export function positiveNumber(name: string, allowZero = false): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
      throw new InvalidArgumentError(`${name} must be a ${allowZero ? "non-negative" : "positive"} number`);
    }
    return n;
  };
}

/**
 * Parser for an integer option with a minimum.
 *
 * @example
 * ```ts
 * import { integer } from "./common.ts";
 * console.log(integer("--max-flows", 0)("10")); // 10
 * ```
 */
export function integer(name: string, min: number): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    }
    return n;
  };
}

/**
 * Parser for a fraction in (0, 1].
 *
 * @example
 * ```ts
 * import { fraction } from "./common.ts";
 * console.log(fraction("--sampling-rate")("0.5")); // 0.5
 * ```
 */
export function fraction(name: string): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`${name} must be in (0, 1]`);
    return n;
  };
}

/**
 * 1234567 -> "1.23M".
 *
 * @example
 * ```ts
 * import { fmtRate } from "./common.ts";
 * console.log(fmtRate(2500)); // 2.5k
 * ```
 */
export function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}
