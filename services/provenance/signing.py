"""Where C2PA signatures come from: a PEM key handed to c2pa, or a callback (KMS/HSM seam).

c2pa-rs can sign with a private key it holds itself (`PemKeySigner`), or call back into
our process with the bytes to sign (`CallbackSigner`), which is how a key that never
leaves a KMS or an HSM signs: the callback sends the digest there and returns the
signature. `local_es256_callback` is such a callback backed by a local key through
`cryptography`; it exercises the exact path a KMS client would take, and it is what
the `c2pa_signing: callback` setting runs.

Both take an optional RFC 3161 timestamp authority URL, passed through to c2pa.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import c2pa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

SignCallback = Callable[[bytes], bytes]


class SignerSource(Protocol):
    """Makes a fresh c2pa Signer (c2pa consumes one per signature)."""

    def create(self) -> c2pa.Signer: ...


@dataclass(frozen=True)
class PemKeySigner:
    """c2pa signs with a PEM private key it is given (files or a mounted Kubernetes Secret)."""

    chain_pem: bytes
    key_pem: bytes
    tsa_url: str | None = None
    algorithm: c2pa.C2paSigningAlg = c2pa.C2paSigningAlg.ES256

    def create(self) -> c2pa.Signer:
        info = c2pa.C2paSignerInfo(self.algorithm, self.chain_pem, self.key_pem, self.tsa_url)
        return c2pa.Signer.from_info(info)


@dataclass(frozen=True)
class CallbackSigner:
    """c2pa hands us the bytes to sign; ``sign`` returns the signature (e.g. from a KMS)."""

    chain_pem: bytes
    sign: SignCallback
    tsa_url: str | None = None
    algorithm: c2pa.C2paSigningAlg = c2pa.C2paSigningAlg.ES256

    def create(self) -> c2pa.Signer:
        return c2pa.Signer.from_callback(
            self.sign, self.algorithm, self.chain_pem.decode("ascii"), self.tsa_url
        )


def local_es256_callback(key_pem: bytes) -> SignCallback:
    """An ES256 signing callback over a local P-256 key.

    COSE (and so C2PA) wants ECDSA signatures as the fixed-width concatenation r || s,
    not the DER structure `cryptography` returns; a KMS returning DER needs the same
    conversion.
    """
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("ES256 callback signing needs a P-256 EC private key")
    width = (key.curve.key_size + 7) // 8

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(width, "big") + s.to_bytes(width, "big")

    return sign
