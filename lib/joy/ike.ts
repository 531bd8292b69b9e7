/**
 * Joy's IKE feature (`ike.c`): ISAKMP / IKEv1 and IKEv2 messages of UDP flows on port 500 or 4500. Each
 * direction appends its payloads (after a four-zero-byte non-ESP marker, if any) to a buffer and parses as many
 * whole messages as it can (at most 20): header, then the chain of payloads (at most 20), with security
 * associations down to proposals, transforms and attributes (at most 20 each). A message that does not parse
 * stops the parsing of that direction until more bytes make it parse (Joy keeps the bytes; jj keeps at most
 * 64 KiB of them, more than the largest message Joy accepts, 35000 bytes). The record prints
 * `"ike":{"init":{"messages":[...]},"resp":{"messages":[...]}}` (`resp` from the twin); the object is there
 * as soon as a packet of the flow matched, with or without messages.
 *
 * Joy's names and quirks are kept (for instance the payload name `identification_intiator`, an IKEv1 proposal's
 * protocol named with the IKEv2 table, an IKEv1 situation's category not advancing the offset, and a header
 * needing 32 readable bytes although it is 28 long).
 *
 * @module
 */
import { hex, hexByte } from "./json.ts";

/** Messages kept per direction (`IKE_MAX_MESSAGES`); also the limit on payloads, proposals, etc. */
export const IKE_MAX = 20;
/** Longest message Joy parses (`IKE_MAX_MESSAGE_LEN`). */
export const IKE_MAX_MESSAGE_LEN = 35000;
/** Bytes jj keeps waiting to parse, per direction. */
export const IKE_MAX_BUFFER = 65536;

function table(start: number, names: string): Map<number, string> {
  const m = new Map<number, string>();
  names.split(" ").forEach((n, i) => {
    if (n !== "-") m.set(start + i, n);
  });
  return m;
}
function merge(...ms: Map<number, string>[]): Map<number, string> {
  const r = new Map<number, string>();
  for (const m of ms) for (const [k, v] of m) r.set(k, v);
  return r;
}

const PAYLOAD = merge(
  table(
    0,
    "no_next_payload security_association proposal transform key_exchange identification certificate " +
      "certificate_request hash signature nonce notification delete vendor_id - sa_kek_payload sa_tek_payload " +
      "key_download sequence_number proof_of_possession nat_discovery nat_original_address " +
      "group_associated_policy",
  ),
  table(
    33,
    "security_association key_exchange identification_intiator identification_responder certificate " +
      "certificate_request authentication nonce notify delete vendor_id traffic_selector_initiator " +
      "traffic_selector_responder encrypted configuration extensible_authentication " +
      "generic_secure_password_method group_identification group_security_association key_download " +
      "encrypted_and_authenticated_fragment",
  ),
);
const EXCHANGE = merge(
  table(0, "exchange_type_none base identity_protection authentication_only aggressive informational"),
  table(
    32,
    "quick_mode new_group_mode ike_sa_init ike_auth create_child_sa informational ike_session_resume gsa_auth " +
      "gsa_registration gsa_rekey",
  ),
);
const ATTR_V2 = table(14, "key_length");
const ATTR_V1 = table(
  1,
  "encryption_algorithm hash_algorithm authentication_method group_description group_type " +
    "group_prime_irreducible_polynomial group_generator_one group_generator_two group_curve_a group_curve_b " +
    "life_type life_duration prf key_length field_size group_order",
);
const HASH_V2 = table(1, "sha1 sha2_256 sha2_384 sha2_512");
const HASH_V1 = table(1, "md5 sha tiger sha2_256 sha2_384 sha2_512");
const AUTH_V2 = merge(
  table(1, "rsa_digital_signature shared_key_message_integrity_code dssdigital_signature"),
  table(
    9,
    "ecdsa_sha256_p256 ecdsa_sha384_p384 ecdsa_sha512_p512 generic_secure_password_authentication_method " +
      "null_authentication digital_signature",
  ),
);
const AUTH_V1 = merge(
  table(1, "pre_shared_key dss_signatures rsa_signatures encryption_with_rsa revised_encryption_with_rsa"),
  table(9, "ecdsa_sha256_p256_curve ecdsa_sha384_p384_curve ecdsa_sha512_p521_curve"),
);
const ENCR_V2 = table(
  1,
  "encr_des_iv64 encr_des encr_3des encr_rc5 encr_idea encr_cast encr_blowfish encr_3idea encr_des_32 - " +
    "encr_null encr_aes_cbc encr_aes_ctr encr_aes_ccm_8 encr_aes_ccm_12 encr_aes_ccm_16 - encr_aes_gcm_8 " +
    "encr_aes_gcm_12 encr_aes_gcm encr_null_auth_aes_gmac - encr_camellia_cbc encr_camellia_ctr " +
    "encr_camellia_ccm_8 encr_camellia_ccm_12 encr_camellia_ccm_16 encr_chacha20_poly1305",
);
const ENCR_V1 = table(
  1,
  "encr_des_cbc encr_idea_cbc encr_blowfish_cbc encr_rc5_r16_b64_cbc encr_3des_cbc encr_cast_cbc encr_aes_cbc " +
    "encr_camellia_cbc",
);
const PRF_V2 = table(
  1,
  "prf_hmac_md5 prf_hmac_sha1 prf_hmac_tiger prf_aes128_xcbc prf_hmac_sha2_256 prf_hmac_sha2_384 " +
    "prf_hmac_sha2_512 prf_aes128_cmac",
);
const INTEG_V2 = table(
  0,
  "auth_none auth_hmac_md5_96 auth_hmac_sha1_96 auth_des_mac auth_kpdk_md5 auth_aes_xcbc_96 auth_hmac_md5_128 " +
    "auth_hmac_sha1_160 auth_aes_cmac_96 auth_aes_128_gmac auth_aes_192_gmac auth_aes_256_gmac " +
    "auth_hmac_sha2_256_128 auth_hmac_sha2_384_192 auth_hmac_sha2_512_256",
);
const DH_COMMON = table(
  14,
  "dh_modp2048 dh_modp3072 dh_modp4096 dh_modp6144 dh_modp8192 dh_p256 dh_p384 dh_p521 dh_modp1024_s160 " +
    "dh_modp2048_s224 dh_modp2048_s256 dh_p192 dh_p224 dh_brainpool_p224 dh_brainpool_p256 dh_brainpool_p384 " +
    "dh_brainpool_p512 dh_curve25519 dh_curve448",
);
const DH_V2 = merge(table(0, "dh_group_none dh_modp768 dh_modp1024 - - dh_modp1536"), DH_COMMON);
const DH_V1 = merge(
  table(
    0,
    "dh_group_none dh_modp768 dh_modp1024 dh_t155 dh_t185 dh_modp1536 dh_t163r1 dh_t163k1 dh_t283r1 dh_t283k1 " +
      "dh_t409r1 dh_t409k1 dh_t571r1 dh_t571k1",
  ),
  DH_COMMON,
);
const ESN_V2 = table(0, "no_extended_sequence_numbers yes_extended_sequence_numbers");
const TRANSFORM_TYPE_V2 = table(
  1,
  "encryption_algorithm pseudorandom_function integrity_algorithm diffie_hellman_group extended_sequence_numbers",
);
const TRANSFORM_IDS_V2: Map<number, string>[] = [new Map(), ENCR_V2, PRF_V2, INTEG_V2, DH_V2, ESN_V2];
const ID_V2 = merge(
  table(1, "id_ipv4_addr id_fqdn id_rfc822_addr - id_ipv6_addr"),
  table(9, "id_der_asn1_dn id_der_asn1_gn id_key_id id_fc_name id_null"),
);
const ID_V1 = table(
  1,
  "id_ipv4_addr id_fqdn id_user_fqdn id_ipv4_addr_subnet id_ipv6_addr id_ipv6_addr_subnet id_ipv4_addr_range " +
    "id_ipv6_addr_range id_der_asn1_dn id_der_asn1_gn id_key_id",
);
const CERT = table(
  1,
  "pkcs7_wrapped_x509_certificate pgp_certificate dns_signed_key x509_certificate_signature - kerberos_token " +
    "certificate_revocation_list authority_revocation_list spki_certificate x509_certificate_attribute " +
    "raw_rsa_key hash_and_url_of_x509_certificate hash_and_url_of_x509_bundle ocsp_content raw_public_key",
);
const PROTO_V2 = table(0, "reserved ike ah esp fc_esp_header fc_ct_authentication");
const PROTO_V1 = table(
  0,
  "reserved proto_isakmp proto_ipsec_ah proto_ipsec_esp proto_ipcomp proto_gigabeam_radio",
);
const NOTIFY_V2 = merge(
  table(1, "unsupported_critical_payload - - invalid_ike_spi invalid_major_version - invalid_syntax"),
  table(9, "invalid_message_id - invalid_spi - - no_proposal_chosen - - invalid_ke_payload"),
  table(24, "authentication_failed"),
  table(
    34,
    "single_pair_required no_additional_sas internal_address_failure failed_cp_required ts_unacceptable " +
      "invalid_selectors unacceptable_addresses unexpected_nat_detected use_assigned_hoa temporary_failure " +
      "child_sa_not_found invalid_group_id authorization_failed",
  ),
  table(
    16384,
    "initial_contact set_window_size additional_ts_possible ipcomp_supported nat_detection_source_ip " +
      "nat_detection_destination_ip cookie use_transport_mode http_cert_lookup_supported rekey_sa " +
      "esp_tfc_padding_not_supported non_first_fragments_also mobike_supported additional_ip4_address " +
      "additional_ip6_address no_additional_addresses update_sa_addresses cookie2 no_nats_allowed " +
      "auth_lifetime multiple_auth_supported another_auth_follows redirect_supported redirect redirected_from " +
      "ticket_lt_opaque ticket_request ticket_ack ticket_nack ticket_opaque link_id use_wesp_mode " +
      "rohc_supported eap_only_authentication childless_ikev2_supported quick_crash_detection " +
      "ikev2_message_id_sync_supported ipsec_replay_counter_sync_supported ikev2_message_id_sync " +
      "ipsec_replay_counter_sync secure_password_methods psk_persist psk_confirm erx_supported " +
      "ifom_capability sender_request_id ikev2_fragmentation_supported signature_hash_algorithms " +
      "clone_ike_sa_supported clone_ike_sa",
  ),
);
const NOTIFY_V1 = merge(
  table(
    1,
    "invalid_payload_type doi_not_supported situation_not_supported invalid_cookie invalid_major_version " +
      "invalid_minor_version invalid_exchange_type invalid_flags invalid_message_id invalid_protocol_id " +
      "invalid_spi invalid_transform_id attributes_not_supported no_proposal_chosen bad_proposal_syntax " +
      "payload_malformed invalid_key_information invalid_id_information invalid_cert_encoding " +
      "invalid_certificate cert_type_unsupported invalid_cert_authority invalid_hash_information " +
      "authentication_failed invalid_signature address_notification notify_sa_lifetime certificate_unavailable " +
      "unsupported_exchange_type unequal_payload_lengths",
  ),
  table(16384, "connected"),
);
const DOI_V1 = table(0, "isakmp ipsec gdoi");
const LIFE_V1 = table(1, "seconds kilobytes");
const GROUP_TYPE_V1 = table(1, "modp ecp ec2n");
/** Values of IKEv1 attribute types printed by name (the others print as hex). */
const ATTR_VALUE_V1: Record<number, Map<number, string>> = {
  1: ENCR_V1,
  2: HASH_V1,
  3: AUTH_V1,
  4: DH_V1,
  5: GROUP_TYPE_V1,
  11: LIFE_V1,
};

/** Vendor IDs Joy names (`ike_vendor_ids`), as hex. One name holds a literal `\n`, as in Joy's table. */
const VENDOR_IDS: [string, string][] = [
  ["strongSwan", "882fe56d6fd20dbc2251613b2ebe5beb"],
  ["XAuth", "09002689dfd6b712"],
  ["Dead Peer Detection", "afcad71368a1f1c96b8696fc77570100"],
  ["Cisco Unity", "12f5f28c457168a9702d9fe274cc0100"],
  ["FRAGMENTATION", "4048b7d56ebce88525e7de7f00d6c2d380000000"],
  ["MS NT5 ISAKMPOAKLEY", "1e2b516905991c7d7c96fcbfb587e46100000000"],
  ["NAT-T (RFC 3947)", "4a131c81070358455c5728f20e95452f"],
  ["draft-ietf-ipsec-nat-t-ike-03", "7d9419a65310ca6f2c179d9215529d56"],
  ["draft-ietf-ipsec-nat-t-ike-02", "cd60464335df21f87cfdb2fc68b6a448"],
  ["draft-ietf-ipsec-nat-t-ike-02\\n", "90cb80913ebb696e086381b5ec427b1f"],
  ["draft-ietf-ipsec-nat-t-ike-08", "8f8d83826d246b6fc7a8a6a428c11de8"],
  ["draft-ietf-ipsec-nat-t-ike-07", "439b59f8ba676c4c7737ae22eab8f582"],
  ["draft-ietf-ipsec-nat-t-ike-06", "4d1e0e136deafa34c4f3ea9f02ec7285"],
  ["draft-ietf-ipsec-nat-t-ike-05", "80d0bb3def54565ee84645d4c85ce3ee"],
  ["draft-ietf-ipsec-nat-t-ike-04", "9909b64eed937c6573de52ace952fa6b"],
  ["draft-ietf-ipsec-nat-t-ike-00", "4485152d18b6bbcd0be8a8469579ddcc"],
  ["draft-ietf-ipsec-nat-t-ike", "4df37928e9fc4fd1b3262170d515c662"],
  ["draft-stenberg-ipsec-nat-traversal-02", "6105c422e76847e43f9684801292aecd"],
  ["draft-stenberg-ipsec-nat-traversal-01", "27bab5dc01ea0760ea4e3190ac27c0d0"],
];

const x4 = (v: number): string => v.toString(16).padStart(4, "0");

/** A parse result: bytes consumed (0: failure, as Joy's unmarshal functions return) and the JSON. */
interface Parsed {
  n: number;
  json: string;
}
const FAIL: Parsed = { n: 0, json: "" };

/** Reads the message buffer: bytes past its end read as zero. */
class Reader {
  constructor(readonly d: Uint8Array) {}
  u8(i: number): number {
    return i < this.d.length ? this.d[i] : 0;
  }
  u16(i: number): number {
    return (this.u8(i) << 8) | this.u8(i + 1);
  }
  u32(i: number): number {
    return ((this.u8(i) << 24) | (this.u8(i + 1) << 16) | (this.u8(i + 2) << 8) | this.u8(i + 3)) >>> 0;
  }
  /** Hex of `n` bytes at `i` (zeros past the end), quoted. */
  hex(i: number, n: number): string {
    let s = hex(this.d, i, Math.max(0, Math.min(n, this.d.length - i)));
    for (let k = Math.max(0, this.d.length - i); k < n; k++) s += "00";
    return `"${s}"`;
  }
  bytes(i: number, n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let k = 0; k < n; k++) b[k] = this.u8(i + k);
    return b;
  }
}

/** One attribute (TLV or TV): consumed bytes, type, encoding bit, data offset and length. */
function attribute(r: Reader, o: number, len: number, v1: boolean): (Parsed & { type: number }) | null {
  if (len < 4) return null;
  const enc = r.u8(o) >> 7, type = r.u16(o) & 0x7fff;
  let dOff: number, dLen: number, n: number;
  if (enc === 0) {
    dLen = r.u16(o + 2);
    if (dLen > len - 4) return null;
    dOff = o + 4;
    n = 4 + dLen;
  } else {
    dOff = o + 2;
    dLen = 2;
    n = 4;
  }
  const name = (v1 ? ATTR_V1 : ATTR_V2).get(type);
  let s = name !== undefined ? `{"${name}":` : `{"kind":${type},"data":`;
  if (!v1) s += r.hex(dOff, dLen);
  else {
    const byName = enc === 1 || dLen === 2 ? ATTR_VALUE_V1[type]?.get(r.u16(dOff)) : undefined;
    s += byName !== undefined ? `"${byName}"` : r.hex(dOff, dLen);
  }
  return { n, json: s + "}", type };
}

function list(key: string, items: string[], lead: string): string {
  return items.length ? `${lead}"${key}":[${items.join(",")}]` : "";
}

function transform(r: Reader, o: number, len: number, v1: boolean): (Parsed & { last: number }) | null {
  if (len < 8) return null;
  const last = r.u8(o), length = r.u16(o + 2);
  if (length > len) return null;
  let off = 8;
  const attrs: string[] = [];
  while (off < length && attrs.length < IKE_MAX) {
    const a = attribute(r, o + off, len - off, v1);
    if (a === null) return null;
    off += a.n;
    attrs.push(a.json);
  }
  if (off !== length) return null;
  let s: string;
  if (v1) {
    const id = r.u8(o + 5), name = id === 1 ? "key_ike" : undefined;
    s = `{"id":"${name ?? hexByte(id)}","num":${r.u8(o + 4)}`;
  } else {
    const type = r.u8(o + 4), id = r.u16(o + 6);
    const tName = TRANSFORM_TYPE_V2.get(type), idName = TRANSFORM_IDS_V2[type]?.get(id);
    s = tName !== undefined ? `{"${tName}":` : `{"kind":${type},"id":`;
    s += `"${idName ?? x4(id)}"`;
  }
  return { n: off, json: s + list("attributes", attrs, ",") + "}", last };
}

function proposal(r: Reader, o: number, len: number, v1: boolean): (Parsed & { last: number }) | null {
  if (len < 8) return null;
  const last = r.u8(o), length = r.u16(o + 2), num = r.u8(o + 4), prot = r.u8(o + 5);
  const spiSize = r.u8(o + 6), numT = r.u8(o + 7);
  if (length > len) return null;
  let off = 8;
  if (spiSize > len - off) return null;
  const spiOff = off;
  off += spiSize;
  if (numT > IKE_MAX) return null;
  const ts: string[] = [];
  let lastT = 3;
  while (off < len && ts.length < numT && lastT === 3) {
    const t = transform(r, o + off, len - off, v1);
    if (t === null) return null;
    off += t.n;
    lastT = t.last;
    ts.push(t.json);
  }
  if (ts.length !== numT || off !== length) return null;
  // Joy names an IKEv1 proposal's protocol with the IKEv2 table too.
  let s = `{"num":${num},"protocol_id":"${PROTO_V2.get(prot) ?? hexByte(prot)}"`;
  if (spiSize > 0) s += `,"spi":${r.hex(o + spiOff, spiSize)}`;
  return { n: off, json: s + list("transforms", ts, ",") + "}", last };
}

function proposals(
  r: Reader,
  o: number,
  off: number,
  len: number,
  v1: boolean,
): { n: number; items: string[] } {
  const items: string[] = [];
  let last = 2;
  while (off < len && items.length < IKE_MAX && last === 2) {
    const p = proposal(r, o + off, len - off, v1);
    if (p === null) return { n: 0, items };
    off += p.n;
    last = p.last;
    items.push(p.json);
  }
  return { n: off, items };
}

function saV2(r: Reader, o: number, len: number): Parsed {
  const p = proposals(r, o, 0, len, false);
  if (p.n === 0) return FAIL;
  return { n: p.n, json: "{" + list("proposals", p.items, "") + "}" };
}

function saV1(r: Reader, o: number, len: number): Parsed {
  const doi = r.u32(o), sit = r.u32(o + 4);
  let off = 8, extra = "";
  if (doi === 2) {
    if (sit !== 0) return FAIL;
  } else if (doi === 1) {
    if (!(sit & 1)) return FAIL;
    if (sit & 6) {
      extra += `,"labeled_domain_identifier":${r.u32(o + off)}`;
      off += 4;
    }
    for (const [bit, name] of [[2, "secrecy"], [4, "integrity"]] as const) {
      if (!(sit & bit)) continue;
      let length = r.u16(o + off);
      off += 4;
      extra += `,"${name}_level":${r.hex(o + off, length)}`;
      off += length;
      length = r.u16(o + off);
      off += 4;
      // Joy does not step over the category bitmap.
      extra += `,"${name}_category":${r.hex(o + off, (length + 7) >> 3)}`;
    }
  } else return FAIL;
  const p = proposals(r, o, off, len, true);
  if (p.n === 0) return FAIL;
  const doiName = DOI_V1.get(doi) ?? doi.toString(16);
  return {
    n: p.n,
    json: `{"doi":"${doiName}","situation":${sit}${extra}` + list("proposals", p.items, ",") + "}",
  };
}

/** `{"<name>":"<hex>"}` or `{"<key>":<code>,"data":"<hex>"}` for a typed blob at `o + skip`. */
function typed(
  r: Reader,
  o: number,
  len: number,
  skip: number,
  code: number,
  names: Map<number, string>,
  key: string,
): Parsed {
  const name = names.get(code);
  const head = name !== undefined ? `{"${name}":` : `{"${key}":${code},"data":`;
  return { n: len, json: head + r.hex(o + skip, len - skip) + "}" };
}

function notify(r: Reader, o: number, len: number, v1: boolean): Parsed {
  const h = v1 ? 8 : 4;
  if (len < h) return FAIL;
  const doi = v1 ? r.u32(o) : 0;
  const prot = r.u8(o + h - 4), spiSize = r.u8(o + h - 3), type = r.u16(o + h - 2);
  if (spiSize > len - h) return FAIL;
  let s = "{";
  if (v1) s += `"doi":"${DOI_V1.get(doi) ?? doi.toString(16)}",`;
  s += `"protocol_id":"${(v1 ? PROTO_V1 : PROTO_V2).get(prot) ?? hexByte(prot)}"`;
  if (spiSize > 0) s += `,"spi":${r.hex(o + h, spiSize)}`;
  const name = (v1 ? NOTIFY_V1 : NOTIFY_V2).get(type);
  s += name !== undefined ? `,"${name}":` : `,"kind":${type},"data":`;
  const dOff = o + h + spiSize, dLen = len - h - spiSize;
  s += r.hex(dOff, dLen);
  if (!v1 && type === 16431 && dLen > 0) {
    const k = dLen >> 1, algs: string[] = [];
    for (let i = 0; i < k; i++) {
      const id = r.u16(dOff + 2 * i);
      algs.push(`"${HASH_V2.get(id) ?? x4(id)}"`);
    }
    if (k > 0) s += `,"parsed":[${algs.join(",")}]`;
  }
  return { n: len, json: s + "}" };
}

function vendorId(r: Reader, o: number, len: number): Parsed {
  const h = r.hex(o, len).slice(1, -1);
  for (const [desc, id] of VENDOR_IDS) if (len > 0 && id === h) return { n: len, json: `"${desc}"` };
  return { n: len, json: `"${h}"` };
}

/** A payload body of `len` bytes at `o`. */
function body(r: Reader, type: number, o: number, len: number): Parsed {
  switch (type) {
    case 33:
      return saV2(r, o, len);
    case 1:
      return saV1(r, o, len);
    case 34:
      return len < 4 ? FAIL : typed(r, o, len, 4, r.u16(o), DH_V2, "kind");
    case 4:
    case 8:
    case 10:
    case 40:
      return { n: len, json: r.hex(o, len) };
    case 35:
    case 36:
      return len < 4 ? FAIL : typed(r, o, len, 4, r.u8(o), ID_V2, "kind");
    case 5:
      return len < 4 ? FAIL : typed(r, o, len, 4, r.u8(o), ID_V1, "kind");
    case 37:
    case 6:
    case 38:
    case 7:
      return len < 1 ? FAIL : typed(r, o, len, 1, r.u8(o), CERT, "encoding");
    case 39:
      return len < 4 ? FAIL : typed(r, o, len, 4, r.u8(o), AUTH_V2, "method");
    case 41:
      return notify(r, o, len, false);
    case 11:
      return notify(r, o, len, true);
    case 43:
    case 13:
      return vendorId(r, o, len);
    default:
      return { n: len, json: "{}" };
  }
}

function payload(r: Reader, type: number, o: number, len: number): (Parsed & { next: number }) | null {
  const next = r.u8(o), length = r.u16(o + 2);
  // Joy reads the generic header without checking that 4 bytes remain; a length under 4 makes its arithmetic
  // wrap (taken as a failure here).
  if (length > len || length < 4) return null;
  const b = body(r, type, o + 4, length - 4);
  if (b.n !== length - 4) return null;
  const name = PAYLOAD.get(type);
  const head = name !== undefined ? `{"${name}":` : `{"kind":"${type}","body":`;
  return { n: length, json: head + b.json + "}", next };
}

function flagsJson(major: number, f: number): string {
  const p: string[] = [];
  if (major === 1) {
    p.push(f & 1 ? "encryption" : "no_encryption", f & 2 ? "commit" : "no_commit");
    p.push(f & 4 ? "authentication" : "no_authentication");
  } else if (major === 2) {
    p.push(f & 8 ? "initiator" : "responder", f & 0x10 ? "higher_version" : "no_higher_version");
    p.push(f & 0x20 ? "response" : "request");
  }
  return `{"hex":"${x4(f)}","parsed":[${p.map((x) => `"${x}"`).join(",")}]}`;
}

/** One message at `o` with `len` bytes available; null when it does not parse. */
function message(r: Reader, o: number, len: number): Parsed | null {
  // Joy checks the length against the size of its header structure (32 bytes), not the 28 it reads.
  if (len < 32) return null;
  const next0 = r.u8(o + 16), major = r.u8(o + 17) >> 4, minor = r.u8(o + 17) & 15;
  const exch = r.u8(o + 18), flags = r.u8(o + 19), msgId = r.u32(o + 20), length = r.u32(o + 24);
  if (length > IKE_MAX_MESSAGE_LEN) return null;
  const header =
    `{"init_spi":${r.hex(o, 8)},"resp_spi":${r.hex(o + 8, 8)},"major":${major},"minor":${minor},` +
    `"exchange_type":"${EXCHANGE.get(exch) ?? hexByte(exch)}","flags":${flagsJson(major, flags)},` +
    `"message_id":${msgId},"length":${length}}`;
  if (flags & 1) return { n: length, json: `{"header":${header}}` };
  let off = 28, next = next0;
  const payloads: string[] = [];
  while (off < length && payloads.length < IKE_MAX && next !== 0) {
    const p = payload(r, next, o + off, len - off);
    if (p === null) return null;
    off += p.n;
    next = p.next;
    payloads.push(p.json);
  }
  if (off !== length) return null;
  return { n: off, json: `{"header":${header}` + list("payloads", payloads, ",") + "}" };
}

/**
 * The IKE state of one direction of a flow: the messages parsed (as JSON) and the bytes waiting.
 *
 * @example
 * ```ts
 * import { JoyIke } from "./ike.ts";
 * const k = new JoyIke();
 * k.update(new Uint8Array(8), 0, 8, 8); // a marker and 4 bytes: not a message yet
 * console.log(k.messages.length); // 0
 * ```
 */
export class JoyIke {
  /** Parsed messages, as JSON (at most {@linkcode IKE_MAX}). */
  readonly messages: string[] = [];
  private buffer: Uint8Array = new Uint8Array(0);

  /** Appends one UDP payload `buf[p .. p + len)` (bytes up to `readEnd` readable, zeros past it) and parses. */
  update(buf: Uint8Array, p: number, len: number, readEnd: number): void {
    // Nothing more can be printed past IKE_MAX messages.
    if (len <= 0 || this.messages.length >= IKE_MAX) return;
    const end = Math.min(buf.length, readEnd);
    const at = (i: number): number => (i < end ? buf[i] : 0);
    if (len >= 4 && at(p) === 0 && at(p + 1) === 0 && at(p + 2) === 0 && at(p + 3) === 0) {
      p += 4;
      len -= 4;
    }
    const keep = Math.min(len, IKE_MAX_BUFFER - this.buffer.length);
    // No new bytes (a full buffer): the parse below would end where the last one did.
    if (keep <= 0) return;
    const old = this.buffer.length;
    const b = new Uint8Array(old + keep); // zeros past `end`, as Joy reads them
    b.set(this.buffer);
    if (p < end) b.set(buf.subarray(p, Math.min(end, p + keep)), old);
    this.buffer = b;
    const r = new Reader(this.buffer);
    let pos = 0, rem = this.buffer.length;
    while (rem > 0 && this.messages.length < IKE_MAX) {
      const m = message(r, pos, rem);
      if (m === null || m.n === 0) break;
      this.messages.push(m.json);
      // An encrypted IKEv1 message longer than the bytes at hand makes Joy's count wrap; jj stops there.
      const n = Math.min(m.n, rem);
      pos += n;
      rem -= n;
    }
    if (pos > 0) this.buffer = this.buffer.slice(pos);
  }
}

function side(k: JoyIke): string {
  return "{" + list("messages", k.messages, "") + "}";
}

/**
 * The `,"ike":{...}` fragment (`ike_print_json`): the record's messages as `init`, the twin's as `resp`.
 *
 * @example
 * ```ts
 * import { ikePrintJson, JoyIke } from "./ike.ts";
 * console.log(ikePrintJson(new JoyIke(), null)); // ,"ike":{"init":{}}
 * ```
 */
export function ikePrintJson(init: JoyIke, resp: JoyIke | null): string {
  return `,"ike":{"init":${side(init)}` + (resp !== null ? `,"resp":${side(resp)}` : "") + "}";
}
