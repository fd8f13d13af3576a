"""A throw-away certificate authority and server certificate for TLS mode.

Uses the ``openssl`` command line when present, else the ``cryptography``
package. The CA file is what clients pass as their trust anchor; the server
certificate names ``127.0.0.1``, ``::1`` and ``localhost``.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["TlsFiles", "make_tls_files"]

_SAN = "DNS:localhost,IP:127.0.0.1,IP:::1"


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: str  # PEM, the trust anchor for clients
    cert: str  # PEM, the server certificate (leaf)
    key: str  # PEM, the server's private key


def make_tls_files(directory: str) -> TlsFiles:
    """Writes a CA and a server certificate signed by it into ``directory``.

    Raises RuntimeError when neither ``openssl`` nor ``cryptography`` is available.
    """
    os.makedirs(directory, exist_ok=True)
    files = TlsFiles(
        os.path.join(directory, "ca.pem"),
        os.path.join(directory, "server.pem"),
        os.path.join(directory, "server.key"),
    )
    if shutil.which("openssl"):
        _with_openssl(directory, files)
        return files
    try:
        _with_cryptography(files)
    except ImportError:
        raise RuntimeError(
            "TLS mode needs the openssl command line or the 'cryptography' package; "
            "install one (apt-get install openssl, or pip install cryptography)"
        ) from None
    return files


def _run(*args: str, cwd: str) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.decode(errors='replace').strip()}")


def _with_openssl(directory: str, files: TlsFiles) -> None:
    ca_key = os.path.join(directory, "ca.key")
    csr = os.path.join(directory, "server.csr")
    ext = os.path.join(directory, "server.ext")
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", ca_key, "-out", files.ca_cert, "-days", "2", "-subj", "/CN=bbreview test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         cwd=directory)
    _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", files.key,
         "-out", csr, "-subj", "/CN=localhost", cwd=directory)
    with open(ext, "w") as fh:
        fh.write(
            f"subjectAltName={_SAN}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n"
        )
    _run("x509", "-req", "-in", csr, "-CA", files.ca_cert, "-CAkey", ca_key, "-CAcreateserial",
         "-out", files.cert, "-days", "2", "-extfile", ext, cwd=directory)


def _with_cryptography(files: TlsFiles) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bbreview test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    with open(files.ca_cert, "wb") as fh:
        fh.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(files.cert, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(files.key, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
