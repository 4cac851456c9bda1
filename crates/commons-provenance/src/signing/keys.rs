//! ECDSA P-256 keys as PEM files: the node's own key (created on first use)
//! and keys given on the command line.

use std::path::{Path, PathBuf};

use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::{Digest, Sha256};

use super::SignatureError;

/// File names of the node key under `$COMMONS_HOME/keys/`.
pub const NODE_KEY: &str = "node-key.pem";
pub const NODE_PUBLIC_KEY: &str = "node-key.pub.pem";

pub fn generate() -> SigningKey {
    SigningKey::random(&mut rand_core::OsRng)
}

/// The public key as PEM (SubjectPublicKeyInfo, 64-column base64, LF), byte
/// for byte what Python's `cryptography` writes, so hints agree.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, SignatureError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| SignatureError::Key(format!("cannot encode a public key: {e}")))
}

/// model-signing's key hint: hex sha256 of the public key PEM.
pub fn public_key_hint(key: &VerifyingKey) -> Result<String, SignatureError> {
    Ok(hex::encode(Sha256::digest(public_key_pem(key)?.as_bytes())))
}

fn read(path: &Path) -> Result<String, SignatureError> {
    std::fs::read_to_string(path).map_err(|source| SignatureError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`).
pub fn read_private_key(path: &Path) -> Result<SigningKey, SignatureError> {
    let pem = read(path)?;
    SigningKey::from_pkcs8_pem(&pem)
        .ok()
        .or_else(|| {
            p256::SecretKey::from_sec1_pem(&pem)
                .ok()
                .map(SigningKey::from)
        })
        .ok_or_else(|| {
            SignatureError::Key(format!(
                "{} is not an unencrypted ECDSA P-256 private key in PEM",
                path.display()
            ))
        })
}

pub fn parse_public_key(pem: &str) -> Option<VerifyingKey> {
    VerifyingKey::from_public_key_pem(pem).ok()
}

pub fn read_public_key(path: &Path) -> Result<VerifyingKey, SignatureError> {
    parse_public_key(&read(path)?).ok_or_else(|| {
        SignatureError::Key(format!(
            "{} is not an ECDSA P-256 public key in PEM",
            path.display()
        ))
    })
}

/// The node's signing key in `keys_dir`, created (with its public half
/// beside it) on first use; the private key file is readable by its owner only.
pub fn node_key(keys_dir: &Path) -> Result<(SigningKey, PathBuf), SignatureError> {
    let private = keys_dir.join(NODE_KEY);
    let public = keys_dir.join(NODE_PUBLIC_KEY);
    if private.exists() {
        return Ok((read_private_key(&private)?, public));
    }
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| SignatureError::Io { path, source }
    };
    std::fs::create_dir_all(keys_dir).map_err(io(keys_dir))?;
    let key = generate();
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SignatureError::Key(format!("cannot encode the node key: {e}")))?;
    write_private(&private, pem.as_bytes()).map_err(io(&private))?;
    std::fs::write(&public, public_key_pem(key.verifying_key())?).map_err(io(&public))?;
    Ok((key, public))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
