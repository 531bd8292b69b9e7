/**
 * Crypto-PAn: prefix-preserving address anonymization (Xu, Fan, Ammar, Moon, 2002), the original construction:
 * a 32-byte key, AES-128 under its first 16 bytes, and a pad made by encrypting its last 16 bytes. Bit `i` of
 * the result is bit `i` of the address XOR the first bit of AES(first `i` address bits, then the pad's bits), so
 * two addresses that share a `k`-bit prefix map to addresses sharing exactly `k` bits. IPv6 uses the same
 * construction over 128 bits (as the common IPv6 extensions of Crypto-PAn do).
 *
 * @module
 */
import { type Cipher, createCipheriv } from "node:crypto";

/**
 * A Crypto-PAn instance for one key. Addresses are 4 (IPv4) or 16 (IPv6) bytes, anonymized in place.
 *
 * @example
 * ```ts
 * import { CryptoPan } from "./cryptopan.ts";
 * const key = new Uint8Array([
 *   21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
 *   216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
 * ]);
 * const cp = new CryptoPan(key);
 * const a = new Uint8Array([128, 11, 68, 132]);
 * cp.anonymize(a, 0, 4);
 * console.log(a.join(".")); // 135.242.180.132
 * cp.deanonymize(a, 0, 4);
 * console.log(a.join(".")); // 128.11.68.132
 * ```
 */
export class CryptoPan {
  private readonly cipher: Cipher;
  private readonly pad: Uint8Array;
  /** One block per bit position of an IPv6 address (IPv4 uses the first 32). */
  private readonly blocks = new Uint8Array(128 * 16);
  private readonly orig = new Uint8Array(16);

  /** `key` must be 32 bytes: 16 of AES key, 16 from which the pad is made. */
  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError(`Crypto-PAn needs a 32-byte key, got ${key.length} bytes`);
    this.cipher = createCipheriv("aes-128-ecb", key.subarray(0, 16), null);
    this.cipher.setAutoPadding(false);
    this.pad = new Uint8Array(this.cipher.update(key.subarray(16, 32)));
  }

  /** Writes into `block` (16 bytes at `bo`) the first `pos` bits of `addr` followed by the pad's bits. */
  private fill(block: Uint8Array, bo: number, addr: Uint8Array, off: number, pos: number): void {
    const full = pos >>> 3;
    for (let i = 0; i < 16; i++) block[bo + i] = this.pad[i];
    for (let i = 0; i < full; i++) block[bo + i] = addr[off + i];
    const rem = pos & 7;
    if (rem !== 0) {
      const m = (0xff << (8 - rem)) & 0xff;
      block[bo + full] = (addr[off + full] & m) | (this.pad[full] & ~m & 0xff);
    }
  }

  /** Anonymizes the 4 (`version` 4) or 16 (`version` 6) bytes at `addr[off..]` in place. */
  anonymize(addr: Uint8Array, off: number, version: 4 | 6): void {
    const bits = version === 4 ? 32 : 128;
    const blocks = this.blocks;
    // Every position's input depends only on the original address, so all blocks go through AES at once.
    for (let pos = 0; pos < bits; pos++) this.fill(blocks, pos * 16, addr, off, pos);
    const out = this.cipher.update(blocks.subarray(0, bits * 16));
    for (let byte = 0; byte < bits >>> 3; byte++) {
      let otp = 0;
      for (let b = 0; b < 8; b++) otp |= (out[(byte * 8 + b) * 16] >> 7) << (7 - b);
      addr[off + byte] ^= otp;
    }
  }

  /** Undoes {@linkcode CryptoPan.anonymize} in place (bit by bit: each bit's pad depends on the earlier ones). */
  deanonymize(addr: Uint8Array, off: number, version: 4 | 6): void {
    const bits = version === 4 ? 32 : 128;
    const orig = this.orig;
    orig.fill(0);
    const block = this.blocks.subarray(0, 16);
    for (let pos = 0; pos < bits; pos++) {
      this.fill(block, 0, orig, 0, pos);
      const f = this.cipher.update(block)[0] >> 7;
      const byte = pos >>> 3, shift = 7 - (pos & 7);
      const bit = ((addr[off + byte] >> shift) & 1) ^ f;
      orig[byte] |= bit << shift;
    }
    for (let i = 0; i < bits >>> 3; i++) addr[off + i] = orig[i];
  }
}
