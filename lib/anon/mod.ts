/**
 * Anonymization: Crypto-PAn, Joy-compatible AES, keyed hashing; of flow records and of captures.
 *
 * @module
 */
export { CryptoPan } from "./cryptopan.ts";
export {
  ANON_MODES,
  type AnonKey,
  type AnonMode,
  Anonymizer,
  type AnonymizerOptions,
  joyKeyFileBytes,
  KeyError,
  loadOrCreateKey,
  parseUserList,
} from "./anonymizer.ts";
export { anonymizeCapture, type CaptureAnonResult, PacketAnonymizer } from "./pcap.ts";
