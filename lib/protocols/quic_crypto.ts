/**
 * The small fixed-size cryptography of QUIC Initial packets, in plain TypeScript: HKDF-SHA256 (RFC 5869) for the
 * Initial secrets and HKDF-Expand-Label keys (RFC 9001 section 5.2), and one-block AES-128 encryption for header
 * protection (RFC 9001 section 5.4.3). Each runs on a few dozen bytes per connection, where `node:crypto` spends
 * far more on its per-call set-up (key objects, cipher streams) than on the computation. Payload decryption
 * (AES-128-GCM over a whole packet) stays with `node:crypto`.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4) and HMAC (RFC 2104)

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);
const W = new Int32Array(64);

/** Folds the 64-byte block `b[p .. p + 64)` into the hash state `h` (8 words). */
function compress(h: Int32Array, b: Uint8Array, p: number): void {
  for (let i = 0; i < 16; i++, p += 4) W[i] = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15], y = W[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (hh + s1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = bb;
    bb = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0;
  h[1] = (h[1] + bb) | 0;
  h[2] = (h[2] + c) | 0;
  h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0;
  h[5] = (h[5] + f) | 0;
  h[6] = (h[6] + g) | 0;
  h[7] = (h[7] + hh) | 0;
}

const block = new Uint8Array(128);
const state = new Int32Array(8);

/**
 * Finishes a hash that started from `from` (the state after `prefix` bytes, a multiple of 64) with the message
 * `m[off .. off + len)`; writes the 32-byte digest to `out` at `outOff`.
 */
function finishHash(
  from: Int32Array,
  prefix: number,
  m: Uint8Array,
  off: number,
  len: number,
  out: Uint8Array,
  outOff: number,
): void {
  const h = state;
  h.set(from);
  let p = off;
  const end = off + len;
  while (end - p >= 64) {
    compress(h, m, p);
    p += 64;
  }
  const rest = end - p;
  for (let i = 0; i < rest; i++) block[i] = m[p + i];
  block[rest] = 0x80;
  const total = rest + 9 <= 64 ? 64 : 128;
  block.fill(0, rest + 1, total);
  const bits = (prefix + len) * 8;
  const hi = Math.floor(bits / 0x100000000), lo = bits >>> 0;
  block[total - 8] = hi >>> 24;
  block[total - 7] = (hi >>> 16) & 0xff;
  block[total - 6] = (hi >>> 8) & 0xff;
  block[total - 5] = hi & 0xff;
  block[total - 4] = lo >>> 24;
  block[total - 3] = (lo >>> 16) & 0xff;
  block[total - 2] = (lo >>> 8) & 0xff;
  block[total - 1] = lo & 0xff;
  compress(h, block, 0);
  if (total === 128) compress(h, block, 64);
  for (let i = 0; i < 8; i++) put32(out, outOff + 4 * i, h[i]);
}

/** An HMAC-SHA256 key: the hash states after the inner and outer padded key blocks. */
export interface HmacKey {
  inner: Int32Array;
  outer: Int32Array;
}

const pad = new Uint8Array(64);

/**
 * Prepares an HMAC-SHA256 key (at most 64 bytes, as every key used here is), in `into` when given.
 *
 * @example
 * ```ts
 * import { hmacKey, hmacSha256 } from "./quic_crypto.ts";
 * const out = new Uint8Array(32);
 * hmacSha256(hmacKey(new Uint8Array(32)), new Uint8Array(0), 0, 0, out, 0);
 * console.log(out.length); // 32
 * ```
 */
export function hmacKey(key: Uint8Array, into?: HmacKey): HmacKey {
  const inner = into?.inner ?? new Int32Array(8);
  const outer = into?.outer ?? new Int32Array(8);
  inner.set(IV);
  outer.set(IV);
  for (let i = 0; i < 64; i++) pad[i] = (i < key.length ? key[i] : 0) ^ 0x36;
  compress(inner, pad, 0);
  for (let i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
  compress(outer, pad, 0);
  return { inner, outer };
}

const innerDigest = new Uint8Array(32);

/**
 * HMAC-SHA256 of `m[off .. off + len)` under `k`; the 32-byte MAC goes to `out` at `outOff`.
 *
 * @example
 * ```ts
 * import { hmacKey, hmacSha256 } from "./quic_crypto.ts";
 * const out = new Uint8Array(32);
 * hmacSha256(hmacKey(new TextEncoder().encode("key")), new Uint8Array(3), 0, 3, out, 0);
 * console.log(out[0] >= 0); // true
 * ```
 */
export function hmacSha256(
  k: HmacKey,
  m: Uint8Array,
  off: number,
  len: number,
  out: Uint8Array,
  outOff: number,
): void {
  finishHash(k.inner, 64, m, off, len, innerDigest, 0);
  finishHash(k.outer, 64, innerDigest, 0, 32, out, outOff);
}

// ---------------------------------------------------------------------------------------------------------------
// AES-128 encryption of one block (FIPS 197)

const SBOX = new Uint8Array(256);
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
{
  // The S-box from the multiplicative inverse and the affine map, walking GF(2^8) by powers of 3.
  let p = 1, q = 1;
  do {
    p = p ^ ((p << 1) & 0xff) ^ ((p & 0x80) !== 0 ? 0x1b : 0);
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if ((q & 0x80) !== 0) q ^= 0x09;
    const r = (x: number, s: number) => ((x << s) | (x >> (8 - s))) & 0xff;
    SBOX[p] = q ^ r(q, 1) ^ r(q, 2) ^ r(q, 3) ^ r(q, 4) ^ 0x63;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let x = 0; x < 256; x++) {
    const s = SBOX[x];
    const s2 = ((s << 1) ^ ((s & 0x80) !== 0 ? 0x1b : 0)) & 0xff;
    const t = (s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s);
    T0[x] = t;
    T1[x] = (t >>> 8) | (t << 24);
    T2[x] = (t >>> 16) | (t << 16);
    T3[x] = (t >>> 24) | (t << 8);
  }
}

/**
 * The AES-128 round keys (44 words) of a 16-byte key at `key[off]`.
 *
 * @example
 * ```ts
 * import { aes128Key } from "./quic_crypto.ts";
 * console.log(aes128Key(new Uint8Array(16), 0).length); // 44
 * ```
 */
export function aes128Key(key: Uint8Array, off: number): Int32Array {
  const w = new Int32Array(44);
  for (let i = 0; i < 4; i++) {
    const p = off + 4 * i;
    w[i] = (key[p] << 24) | (key[p + 1] << 16) | (key[p + 2] << 8) | key[p + 3];
  }
  let rcon = 1;
  for (let i = 4; i < 44; i++) {
    let t = w[i - 1];
    if ((i & 3) === 0) {
      t = (SBOX[(t >>> 16) & 0xff] << 24) | (SBOX[(t >>> 8) & 0xff] << 16) | (SBOX[t & 0xff] << 8) |
        SBOX[t >>> 24];
      t ^= rcon << 24;
      rcon = ((rcon << 1) ^ ((rcon & 0x80) !== 0 ? 0x1b : 0)) & 0xff;
    }
    w[i] = w[i - 4] ^ t;
  }
  return w;
}

/**
 * Encrypts the 16-byte block `src[off .. off + 16)` with round keys `w` into `out` (16 bytes).
 *
 * @example
 * ```ts
 * import { aes128EncryptBlock, aes128Key } from "./quic_crypto.ts";
 * const out = new Uint8Array(16);
 * aes128EncryptBlock(aes128Key(new Uint8Array(16), 0), new Uint8Array(16), 0, out);
 * console.log(out[0].toString(16)); // "66"
 * ```
 */
export function aes128EncryptBlock(w: Int32Array, src: Uint8Array, off: number, out: Uint8Array): void {
  let s0 = ((src[off] << 24) | (src[off + 1] << 16) | (src[off + 2] << 8) | src[off + 3]) ^ w[0];
  let s1 = ((src[off + 4] << 24) | (src[off + 5] << 16) | (src[off + 6] << 8) | src[off + 7]) ^ w[1];
  let s2 = ((src[off + 8] << 24) | (src[off + 9] << 16) | (src[off + 10] << 8) | src[off + 11]) ^ w[2];
  let s3 = ((src[off + 12] << 24) | (src[off + 13] << 16) | (src[off + 14] << 8) | src[off + 15]) ^ w[3];
  for (let r = 4; r < 40; r += 4) {
    const t0 = T0[s0 >>> 24] ^ T1[(s1 >>> 16) & 0xff] ^ T2[(s2 >>> 8) & 0xff] ^ T3[s3 & 0xff] ^ w[r];
    const t1 = T0[s1 >>> 24] ^ T1[(s2 >>> 16) & 0xff] ^ T2[(s3 >>> 8) & 0xff] ^ T3[s0 & 0xff] ^ w[r + 1];
    const t2 = T0[s2 >>> 24] ^ T1[(s3 >>> 16) & 0xff] ^ T2[(s0 >>> 8) & 0xff] ^ T3[s1 & 0xff] ^ w[r + 2];
    const t3 = T0[s3 >>> 24] ^ T1[(s0 >>> 16) & 0xff] ^ T2[(s1 >>> 8) & 0xff] ^ T3[s2 & 0xff] ^ w[r + 3];
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  const o0 = ((SBOX[s0 >>> 24] << 24) | (SBOX[(s1 >>> 16) & 0xff] << 16) | (SBOX[(s2 >>> 8) & 0xff] << 8) |
    SBOX[s3 & 0xff]) ^ w[40];
  const o1 = ((SBOX[s1 >>> 24] << 24) | (SBOX[(s2 >>> 16) & 0xff] << 16) | (SBOX[(s3 >>> 8) & 0xff] << 8) |
    SBOX[s0 & 0xff]) ^ w[41];
  const o2 = ((SBOX[s2 >>> 24] << 24) | (SBOX[(s3 >>> 16) & 0xff] << 16) | (SBOX[(s0 >>> 8) & 0xff] << 8) |
    SBOX[s1 & 0xff]) ^ w[42];
  const o3 = ((SBOX[s3 >>> 24] << 24) | (SBOX[(s0 >>> 16) & 0xff] << 16) | (SBOX[(s1 >>> 8) & 0xff] << 8) |
    SBOX[s2 & 0xff]) ^ w[43];
  put32(out, 0, o0);
  put32(out, 4, o1);
  put32(out, 8, o2);
  put32(out, 12, o3);
}

function put32(out: Uint8Array, p: number, x: number): void {
  out[p] = x >>> 24;
  out[p + 1] = (x >>> 16) & 0xff;
  out[p + 2] = (x >>> 8) & 0xff;
  out[p + 3] = x & 0xff;
}
