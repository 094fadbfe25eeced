"""A reference ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03) in plain integers and hashlib,
written from the RFC text alone, to cross-check libpos/core/vrf.cc (which is built on libsodium).

usage: vrf_reference.py             checks every vector below; prints "N vectors ok", exit 0
       vrf_reference.py --generate  derives the extra vectors again and prints them

The group law is the complete twisted Edwards addition on affine points, so c*Y is exact for any
point, also one with a small-order component: the case libsodium cannot multiply directly.
"""
import hashlib
import sys

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
IDENTITY = (0, 1)
SUITE = b"\x03"


def add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P,
            (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P)


def neg(a):
    return (-a[0] % P, a[1])


def mul(n, a):
    out = IDENTITY
    while n:
        if n & 1:
            out = add(out, a)
        a = add(a, a)
        n >>= 1
    return out


def encode(a):
    """point_to_string: RFC 8032 section 5.1.2."""
    x, y = a
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode(s):
    """string_to_point: RFC 8032 section 5.1.3, strict. None stands for INVALID."""
    n = int.from_bytes(s, "little")
    y, sign = n & (2**255 - 1), n >> 255
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == -u % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    elif v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y)


B = decode(bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666"))


def sha512(*parts):
    return hashlib.sha512(b"".join(parts)).digest()


def secret_scalar(sk):
    """RFC 8032 section 5.1.5: x from the first half of SHA-512(SK), and the nonce prefix."""
    hashed = sha512(sk)
    x = int.from_bytes(hashed[:32], "little") & ((1 << 254) - 8) | 1 << 254
    return x, hashed[32:]


def encode_to_curve(salt, alpha):
    """Section 5.4.1.1 with section 5.5's interpret_hash_value_as_a_point."""
    for ctr in range(256):  # int_to_string(ctr, 1) has no value past 255
        h = decode(sha512(SUITE, b"\x01", salt, alpha, bytes([ctr]), b"\x00")[:32])
        if h is not None and mul(8, h) != IDENTITY:
            return mul(8, h)
    return None


def nonce(prefix, h):
    """Section 5.4.2.2."""
    k_string = sha512(prefix, encode(h))
    return int.from_bytes(k_string, "little") % Q, k_string


def challenge(*points):
    """Section 5.4.3."""
    c_string = sha512(SUITE, b"\x02", *map(encode, points), b"\x00")
    return int.from_bytes(c_string[:16], "little")


def prove_for_key(x, prefix, pk, alpha, gamma_offset=IDENTITY):
    """Section 5.1 steps 2 to 8 for the key string pk. ECVRF_prove has pk = point_to_string(x*B)
    and no offset; another pk (x*B plus a small-order point) or a small-order offset added to
    Gamma makes the proofs a dishonest key owner could give."""
    h = encode_to_curve(pk, alpha)
    gamma = add(mul(x, h), gamma_offset)
    k, _ = nonce(prefix, h)
    c = challenge(decode(pk), h, gamma, mul(k, B), mul(k, h))
    return encode(gamma) + c.to_bytes(16, "little") + ((k + c * x) % Q).to_bytes(32, "little")


def prove(sk, alpha):
    x, prefix = secret_scalar(sk)
    return prove_for_key(x, prefix, encode(mul(x, B)), alpha)


def decode_proof(pi):
    """Section 5.4.4."""
    gamma = decode(pi[:32])
    s = int.from_bytes(pi[48:], "little")
    if gamma is None or s >= Q:
        return None
    return gamma, int.from_bytes(pi[32:48], "little"), s


def proof_to_hash(pi):
    """Section 5.2."""
    d = decode_proof(pi)
    return None if d is None else sha512(SUITE, b"\x03", encode(mul(8, d[0])), b"\x00")


def verify(pk, alpha, pi):
    """Section 5.3 with validate_key (section 5.4.5): beta, or None for INVALID."""
    y = decode(pk)
    if y is None or mul(8, y) == IDENTITY:
        return None
    d = decode_proof(pi)
    h = encode_to_curve(pk, alpha)
    if d is None or h is None:
        return None
    gamma, c, s = d
    u = add(mul(s, B), neg(mul(c, y)))
    v = add(mul(s, h), neg(mul(c, gamma)))
    return proof_to_hash(pi) if challenge(y, h, gamma, u, v) == c else None


# RFC 9381 Appendix B.3, Examples 16 to 18, with the intermediate values the RFC lists.
RFC_VECTORS = [
    dict(sk="9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         pk="d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", alpha="",
         x="307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f",
         h="91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318",
         k="7100f3d9eadb6dc4743b029736ff283f5be494128df128df2817106f345b8594"
           "b6d6da2d6fb0b4c0257eb337675d96eab49cf39e66cc2c9547c2bf8b2a6afae4",
         u="aef27c725be964c6a9bf4c45ca8e35df258c1878b838f37d9975523f09034071",
         v="5016572f71466c646c119443455d6cb9b952f07d060ec8286d678615d55f954f",
         pi="8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f"
            "26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab12"
            "68a1b0db10836d9826a528ca76567805",
         beta="90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff"
              "66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae"),
    dict(sk="4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         pk="3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", alpha="72",
         x="68bd9ed75882d52815a97585caf4790a7f6c6b3b7f821c5e259a24b02e502e51",
         h="5b659fc3d4e9263fd9a4ed1d022d75eaacc20df5e09f9ea937502396598dc551",
         k="42589bbf0c485c3c91c1621bb4bfe04aed7be76ee48f9b00793b2342acb9c167"
           "cab856f9f9d4febc311330c20b0a8afd3743d05433e8be8d32522ecdc16cc5ce",
         u="1dcb0a4821a2c48bf53548228b7f170962988f6d12f5439f31987ef41f034ab3",
         v="fd03c0bf498c752161bae4719105a074630a2aa5f200ff7b3995f7bfb1513423",
         pi="f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed593"
            "3bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926d"
            "a3ef39226bbc355bdc9850112c8f4b02",
         beta="eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb"
              "5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031"),
    dict(sk="c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         pk="fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", alpha="af82",
         x="909a8b755ed902849023a55b15c23d11ba4d7f4ec5c2f51b1325a181991ea95c",
         h="bf4339376f5542811de615e3313d2b36f6f53c0acfebb482159711201192576a",
         k="38b868c335ccda94a088428cbf3ec8bc7955bfaffe1f3bd2aa2c59fc31a0febc"
           "59d0e1af3715773ce11b3bbdd7aba8e3505d4b9de6f7e4a96e67e0d6bb6d6c3a",
         u="2bae73e15a64042fcebf062abe7e432b2eca6744f3e8265bc38e009cd577ecd5",
         v="88cba1cb0d4f9b649d9a86026b69de076724a93a65c349c988954f0961c5d506",
         pi="9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf80"
            "96bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a"
            "2d41b00b05081ed0f58ee5e31b3a970e",
         beta="645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c45"
              "2118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f"),
]

# An order-8 point (the first of libsodium's small-order encodings).
T8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")

# Extra vectors (--generate derives them): (pk, alpha, pi, beta or None for INVALID).
EXTRA_VECTORS = [
    # Example 16's key + T8, c = 0 mod 8: VALID.
    ("3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d",
     "746f7273696f6e206b65792030",
     "8b84cf7729161368bcbcbe168f720db686a635cb0502cc6f352bcfdfc90731ee"
     "38637c43ee4df65db465ca8c36eabb19d4a8d4ee7006e7b8eb1b3235f3b008e4"
     "853d44ab1370992b4f8f55c385b1e10d",
     "73d393d6dcef84133a8652f9e78f5fffcb18dbde69c7a994f069279d66929347"
     "7c94f9adddd129915d9f95626668405c59f4c86c2e9dd5135b4c8b7136e16d8d"),
    # Example 16's key + T8, c != 0 mod 8: INVALID.
    ("3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d",
     "746f7273696f6e206b65792031",
     "ad3711563095232a22332f13aa8a2e3b03e48ed146bda6b6609f765da5bd3883"
     "2615f76a25549653b89fe1ac617428d6ddf8bbbf167afd77d6f0ae1bc1c82fef"
     "f4f6cb0e2334e0caeaa4a04c00327204",
     None),
    # Example 16's key, Gamma + T8, c = 0 mod 8: VALID, beta = ECVRF_prove's for this alpha.
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "746f7273696f6e2067616d6d612035",
     "9fbac6c5fd2160fb712231e30058dc475e5fcac868acd6de085ebfe6149be919"
     "009c900b28309078270b602b61d70bca679b3f0d3245b26983a331a6caab14c9"
     "feae18ee053548fe0e21e532d357d302",
     "93389f641f7baadeeaf2f27c8240b226e182881bb3e78e84c7a5f86ae29fd919"
     "8b342555e3090938c3dfbd5c24566093c7e7fb77eaa7d54366bc40c766596dc6"),
    # Example 16's key, Gamma + T8, c != 0 mod 8: INVALID.
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "746f7273696f6e2067616d6d612030",
     "396672db330ecc12f2079b5005e8526e13191344fe4e52f7c6d8a69473c2fb4b"
     "85a84e15d2e9c64c0f788069b2bc9bc0e29641a95a6afd2ffa8e278a83d03555"
     "c1c993e6d745d2086da8dcc1d041da02",
     None),
]


def generate():
    """Vectors where an exact c*Y and c*Gamma matter, for c = 0 mod 8 (c*T8 vanishes: VALID) and
    for c != 0 mod 8 (INVALID): RFC Example 16's key plus T8; then Example 16's key with T8 added
    to Gamma (a VALID one has the same beta as the honest proof: proofs are not unique)."""
    sk = bytes.fromhex(RFC_VECTORS[0]["sk"])
    x, prefix = secret_scalar(sk)
    y0, t8 = mul(x, B), decode(T8)
    out = []
    for label, pk, offset in [(b"torsion key", encode(add(y0, t8)), IDENTITY),
                              (b"torsion gamma", encode(y0), t8)]:
        found = {}
        for i in range(64):
            alpha = label + b" %d" % i
            pi = prove_for_key(x, prefix, pk, alpha, offset)
            found.setdefault(int.from_bytes(pi[32:48], "little") % 8 == 0, (pk, alpha, pi))
            if len(found) == 2:
                break
        out += [found[True], found[False]]
    return [(pk.hex(), alpha.hex(), pi.hex(), (verify(pk, alpha, pi) or b"").hex() or None)
            for pk, alpha, pi in out]


def check():
    count = 0
    for v in RFC_VECTORS:
        sk, alpha = bytes.fromhex(v["sk"]), bytes.fromhex(v["alpha"])
        x, prefix = secret_scalar(sk)
        pk = encode(mul(x, B))
        h = encode_to_curve(pk, alpha)
        k, k_string = nonce(prefix, h)
        pi = prove(sk, alpha)
        got = dict(pk=pk, x=x.to_bytes(32, "little"), h=encode(h), k=k_string,
                   u=encode(mul(k, B)), v=encode(mul(k, h)), pi=pi, beta=proof_to_hash(pi))
        for name, value in got.items():
            assert value.hex() == v[name], (v["sk"], name, value.hex())
        assert verify(pk, alpha, pi) == bytes.fromhex(v["beta"])
        count += 1
    assert generate() == EXTRA_VECTORS
    for pk, alpha, pi, beta in EXTRA_VECTORS:
        got = verify(bytes.fromhex(pk), bytes.fromhex(alpha), bytes.fromhex(pi))
        assert (got.hex() if got else None) == beta, (pk, alpha)
        count += 1
    print(f"{count} vectors ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--generate"]:
        for vector in generate():
            print(vector)
    else:
        check()
