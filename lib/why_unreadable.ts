/**
 * Why a file could not be opened or read, in a few words: a leaf module, so that modules that must not load the
 * extraction core (lib/subnets.ts) share the wording.
 *
 * @module
 */

/**
 * Why a file could not be opened or read, in a few words (Deno's messages repeat the path and the errno).
 *
 * @example
 * ```ts
 * import { whyUnreadable } from "./why_unreadable.ts";
 * console.log(whyUnreadable(new Deno.errors.NotFound("x"))); // no such file or directory
 * ```
 */
export function whyUnreadable(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return e instanceof Error ? e.message : String(e);
}
