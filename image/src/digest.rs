//! Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`) and hashing while streaming.
//!
//! A [`Digest`] is always valid: the algorithm is one burrow can verify and the encoded
//! part has the exact length in lowercase hex, so a path built from it can never escape
//! the blob folder. Other algorithms of the OCI grammar (sha384, multihash…) are refused
//! at parse time rather than stored unverified.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// A hash algorithm burrow verifies content with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// Why a digest string was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {input:?}: {reason}")]
pub struct DigestError {
    pub input: String,
    pub reason: &'static str,
}

/// A verified-format content digest such as `sha256:e3b0c442…`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses `algorithm:hex`.
    pub fn parse(input: &str) -> Result<Digest, DigestError> {
        let refuse = |reason| DigestError {
            input: input.to_string(),
            reason,
        };
        let (algorithm, hex) = input
            .split_once(':')
            .ok_or_else(|| refuse("missing ':' between algorithm and value"))?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(refuse("unsupported algorithm (sha256 and sha512 are)")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(refuse("wrong length for its algorithm"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(refuse("value is not lowercase hex"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(Algorithm::Sha256);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(bytes);
        hasher.finish()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded part (lowercase hex), usable as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as Docker shows ids.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    /// The same digest as oci-spec's type (for building descriptors).
    pub fn to_oci(&self) -> oci_spec::image::Digest {
        match oci_spec::image::Digest::from_str(&self.to_string()) {
            Ok(digest) => digest,
            // Every Digest is valid under oci-spec's looser grammar.
            Err(e) => unreachable!("oci-spec refuses valid digest {self}: {e}"),
        }
    }

    /// Converts oci-spec's digest, refusing algorithms burrow cannot verify.
    pub fn from_oci(digest: &oci_spec::image::Digest) -> Result<Digest, DigestError> {
        Digest::parse(digest.as_ref())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Incremental hashing with either algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        let (algorithm, bytes) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest {
            algorithm,
            hex: to_hex(&bytes),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// A reader that hashes and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, algorithm: Algorithm) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Hasher::new(algorithm),
            count: 0,
        }
    }

    /// The digest and byte count of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (self.hasher.finish(), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W, algorithm: Algorithm) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Hasher::new(algorithm),
            count: 0,
        }
    }

    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, self.hasher.finish(), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_values() {
        assert_eq!(Digest::sha256_of(b"").to_string(), EMPTY);
        let abc = Digest::of(Algorithm::Sha512, b"abc");
        assert!(abc.hex().starts_with("ddaf35a193617aba"), "{abc}");
        assert_eq!(Digest::parse(&abc.to_string()).unwrap(), abc);
    }

    #[test]
    fn refuses_bad_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha256:short",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            &EMPTY.to_uppercase(),
            &format!("{EMPTY}0"),
            "sha256:../../../../../../../../../../../../../../../../../../etc/passwd",
            &EMPTY.replace("sha256", "sha384"),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?} accepted");
        }
        let error = Digest::parse("x:y").unwrap_err().to_string();
        assert!(
            error.contains("x:y") && error.contains("algorithm"),
            "{error}"
        );
    }

    #[test]
    fn streaming_matches_one_shot() {
        let data = vec![7u8; 100_000];
        let mut reader = HashingReader::new(&data[..], Algorithm::Sha256);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        let (digest, count) = reader.finish();
        assert_eq!((digest, count), (Digest::sha256_of(&data), 100_000));
        let json = serde_json::to_string(&Digest::sha256_of(b"")).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());
        assert_eq!(
            Digest::from_oci(&Digest::sha256_of(b"").to_oci())
                .unwrap()
                .to_string(),
            EMPTY
        );
    }
}
