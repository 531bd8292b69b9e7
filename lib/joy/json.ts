/**
 * Small formatting helpers that reproduce C's `printf` output as Joy uses it.
 *
 * @module
 */

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, "0"));

/**
 * Two lower-case hex digits of one byte (`%02x`).
 *
 * @example
 * ```ts
 * import { hexByte } from "./json.ts";
 * console.log(hexByte(10)); // 0a
 * ```
 */
export function hexByte(b: number): string {
  return HEX[b & 0xff];
}

/**
 * Lower-case hex of `buf[off .. off + len)`, as Joy's `zprintf_raw_as_hex`.
 *
 * @example
 * ```ts
 * import { hex } from "./json.ts";
 * console.log(hex(new Uint8Array([1, 171]), 0, 2)); // 01ab
 * ```
 */
export function hex(buf: Uint8Array, off: number, len: number): string {
  let s = "";
  const end = Math.min(buf.length, off + len);
  for (let i = off; i < end; i++) s += HEX[buf[i]];
  return s;
}

/**
 * C's `%f`: six decimals; `-nan`/`inf` for non-finite values as glibc prints them. A value exactly halfway
 * between two six-decimal numbers is rounded to the even one, by magnitude, as glibc does (`toFixed` rounds
 * it away from zero).
 *
 * @example
 * ```ts
 * import { cfloat } from "./json.ts";
 * console.log(cfloat(1 / 3), cfloat(0.0078125), cfloat(-0.0234375)); // 0.333333 0.007812 -0.023438
 * ```
 */
export function cfloat(v: number): string {
  if (Number.isNaN(v)) return "-nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  // toFixed drops the sign of a negative zero; printf keeps it.
  if (v === 0) return Object.is(v, -0) ? "-0.000000" : "0.000000";
  const s = v.toFixed(6);
  // A tie (a binary value exactly halfway between two six-decimal numbers, so with exactly seven decimals,
  // the last one 5) is an odd multiple of 2^-7: (2k + 1) / (2 * 10^6) is a binary fraction only when 5^6
  // divides 2k + 1. Multiplying by 128 is exact, so other values cost one multiplication.
  const m = v * 128;
  if (!Number.isInteger(m) || m % 2 === 0) return s;
  // Exactly halfway: keep the truncated digits when their last one is even, else toFixed's rounding away.
  const s7 = v.toFixed(7);
  return (s7.charCodeAt(s7.length - 2) & 1) === 0 ? s7.slice(0, -1) : s;
}

/**
 * A microsecond time as Joy prints a `struct timeval` (`%zd.%06zd`).
 *
 * @example
 * ```ts
 * import { timeval } from "./json.ts";
 * console.log(timeval(1703606032925092)); // 1703606032.925092
 * ```
 */
export function timeval(us: number): string {
  if (!Number.isFinite(us)) return "0.000000";
  // The remainder of the double itself, so that the field is an integer in 0..999999 (valid JSON) also beyond
  // 2^53 µs (year 2255), where a subtraction of the seconds is inexact; exact below, as a timeval's fields are.
  const usec = Math.round(((us % 1e6) + 1e6) % 1e6) % 1e6;
  const sec = Math.floor(us / 1e6);
  return `${BigInt(sec)}.${String(usec).padStart(6, "0")}`;
}

/**
 * The difference `a - b` of two microsecond times in milliseconds as Joy prints it: `joy_timeval_to_milliseconds`
 * of `joy_timer_sub`, an unsigned 32-bit number (a negative difference wraps around).
 *
 * @example
 * ```ts
 * import { iptMs } from "./json.ts";
 * console.log(iptMs(1500, 0), iptMs(0, 73515)); // 1 4294967222
 * ```
 */
export function iptMs(a: number, b: number): number {
  return Math.floor((a - b) / 1000) >>> 0;
}

/**
 * A JSON string literal for text Joy prints with `%s` after its own escaping of quotes and backslashes.
 *
 * @example
 * ```ts
 * import { jstr } from "./json.ts";
 * console.log(jstr('a"b')); // "a\"b"
 * ```
 */
export function jstr(s: string): string {
  return JSON.stringify(s);
}

/**
 * C's `%.<prec>g` for a finite number, as glibc prints it: the double's exact value rounded to `prec`
 * significant digits, a tie (a value exactly halfway) to the even digit.
 *
 * @example
 * ```ts
 * import { cfmtG } from "./json.ts";
 * console.log(cfmtG(1 / 3, 5), cfmtG(2.5, 5), cfmtG(123456, 5), cfmtG(0.00001234, 5)); // 0.33333 2.5 1.2346e+05 1.234e-05
 * console.log(cfmtG(123.125, 5), cfmtG(123.135, 5)); // 123.12 123.14
 * ```
 */
export function cfmtG(v: number, prec: number): string {
  if (Number.isNaN(v)) return "-nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  const p = prec === 0 ? 1 : prec;
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const sign = v < 0 ? "-" : "";
  let { digits, exp } = mantissa(Math.abs(v).toExponential(p - 1));
  // toExponential rounds a tie up; a tie is exact, so more digits show it: the next digit 5, then only zeros
  // (a double's exact decimal value ends within 100 digits whenever it is a tie at under 75 digits).
  if (p <= 75) {
    const more = mantissa(Math.abs(v).toExponential(Math.min(100, p + 25)));
    const rest = more.digits.slice(p);
    if (rest[0] === "5" && /^50*$/.test(rest) && (more.digits.charCodeAt(p - 1) & 1) === 0) {
      digits = more.digits.slice(0, p);
      exp = more.exp;
    }
  }
  const strip = (t: string): string => t.includes(".") ? t.replace(/0+$/, "").replace(/\.$/, "") : t;
  if (exp < -4 || exp >= p) {
    const m = strip(digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits);
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  // Fixed notation with the same digits: the point after digit exp + 1.
  const fixed = exp >= 0
    ? `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`
    : `0.${"0".repeat(-exp - 1)}${digits}`;
  return sign + strip(fixed);
}

/** The digits (without the point) and exponent of a positive number in `toExponential`'s form. */
function mantissa(e: string): { digits: string; exp: number } {
  const at = e.indexOf("e");
  return { digits: e.slice(0, at).replace(".", ""), exp: Number(e.slice(at + 1)) };
}
