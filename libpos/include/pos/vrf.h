// ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03): a verifiable random function over the
// Ed25519 keys of pos/crypto.h, so that a validator's VRF public key is its address.
#pragma once

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos {

struct VrfProofTag {};
struct VrfOutputTag {};
using VrfProof = FixedBytes<80, VrfProofTag>;    // Gamma (32) || c (16) || s (32)
using VrfOutput = FixedBytes<64, VrfOutputTag>;  // ECVRF_proof_to_hash (beta)

// Proves `alpha` under the Ed25519 key (secret scalar and public key as RFC 8032, so the VRF
// public key is the address).
VrfProof vrf_prove(const SecretKey& key, ByteView alpha);

// RFC 9381 ECVRF_verify with validate_key: the output if the proof holds, else kBadVrfProof with a
// message saying which check failed. A key with a small-order component is valid, as in the RFC.
Result<VrfOutput> vrf_verify(const PublicKey& key, ByteView alpha, const VrfProof& proof);

// ECVRF_proof_to_hash, for proofs already verified: fails (kBadVrfProof) only if the proof does
// not decode (Gamma not a canonical point, or s not below the group order).
Result<VrfOutput> vrf_proof_to_hash(const VrfProof& proof);

}  // namespace pos
