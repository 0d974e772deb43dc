//! The `compression` key, as the Collector's `configcompression` spells it, and the one body
//! compressor the HTTP clients share.
//!
//! Each component chooses its default (the OTLP exporters `gzip`, `clickhouse` `zstd`, `kafka`
//! `none`) and says which algorithms it can send ([`Compression::check_supported`]); the
//! encodings of request bodies happen here.

use serde::Deserialize;
use std::io::Write;

/// `compression`: how bodies (or, for Kafka, messages) are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression (`none`, or an empty value, as the Collector accepts).
    #[serde(alias = "")]
    None,
    /// gzip, the one algorithm every OTLP server must accept.
    Gzip,
    /// zstd: for a similar ratio, several times cheaper on CPU than gzip.
    Zstd,
    /// zlib (RFC 1950).
    Zlib,
    /// raw deflate (RFC 1951).
    Deflate,
    /// snappy (Kafka only, in weir).
    Snappy,
    /// lz4 (Kafka only, in weir).
    Lz4,
}

impl Compression {
    /// Every value, as written in configurations.
    pub const ALL: [Compression; 7] = [
        Compression::None,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Zlib,
        Compression::Deflate,
        Compression::Snappy,
        Compression::Lz4,
    ];

    /// The value as written in configurations.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Zlib => "zlib",
            Compression::Deflate => "deflate",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
        }
    }

    /// The `Content-Encoding` / `grpc-encoding` token, `None` when uncompressed.
    pub fn token(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            other => Some(other.as_str()),
        }
    }

    /// Refuses an algorithm the component cannot send, naming the ones it can (for
    /// `validate`).
    pub fn check_supported(self, key: &str, supported: &[Compression]) -> Result<(), String> {
        if supported.contains(&self) {
            return Ok(());
        }
        let names: Vec<String> = supported.iter().map(|c| format!("`{}`", c.as_str())).collect();
        Err(format!("{key}: {} is not supported here; expected one of {}", self.as_str(), names.join(", ")))
    }

    /// Compresses `body` at `level` (the algorithm's own scale; `None`: its fast level, which
    /// is what the Collector's clients use too).
    pub fn compress(self, body: &[u8], level: Option<i32>) -> std::io::Result<Vec<u8>> {
        let flate_level = || flate2::Compression::new(level.map_or(1, |l| l.clamp(0, 9) as u32));
        let capacity = body.len() / 4 + 64;
        match self {
            Compression::None => Ok(body.to_vec()),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(capacity), flate_level());
                enc.write_all(body)?;
                enc.finish()
            }
            Compression::Zlib => {
                let mut enc = flate2::write::ZlibEncoder::new(Vec::with_capacity(capacity), flate_level());
                enc.write_all(body)?;
                enc.finish()
            }
            Compression::Deflate => {
                let mut enc = flate2::write::DeflateEncoder::new(Vec::with_capacity(capacity), flate_level());
                enc.write_all(body)?;
                enc.finish()
            }
            Compression::Zstd => zstd::bulk::compress(body, level.unwrap_or(1)),
            Compression::Snappy | Compression::Lz4 => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{} bodies are not supported", self.as_str()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const BODY: &[u8] = b"a body a body a body a body a body a body a body a body";

    #[test]
    fn every_body_encoding_round_trips() {
        let gz = Compression::Gzip.compress(BODY, None).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, BODY);
        let z = Compression::Zlib.compress(BODY, Some(9)).unwrap();
        out.clear();
        flate2::read::ZlibDecoder::new(&z[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, BODY);
        let d = Compression::Deflate.compress(BODY, None).unwrap();
        out.clear();
        flate2::read::DeflateDecoder::new(&d[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, BODY);
        let zs = Compression::Zstd.compress(BODY, Some(3)).unwrap();
        assert_eq!(zstd::bulk::decompress(&zs, 1024).unwrap(), BODY);
        assert_eq!(Compression::None.compress(BODY, None).unwrap(), BODY);
        assert!(Compression::Snappy.compress(BODY, None).is_err());
    }

    #[test]
    fn the_collectors_spellings_are_read() {
        let parse = |s: &str| crate::config::yaml::parse(s, &|_| None).unwrap().deserialize::<Compression>();
        assert_eq!(parse("gzip").unwrap(), Compression::Gzip);
        assert_eq!(parse("none").unwrap(), Compression::None);
        assert_eq!(parse("\"\"").unwrap(), Compression::None);
        assert!(parse("brotli").unwrap_err().message.contains("zstd"));
    }

    #[test]
    fn unsupported_algorithms_are_named_with_the_choices() {
        let err = Compression::Lz4.check_supported("compression", &[Compression::Gzip, Compression::None]).unwrap_err();
        assert_eq!(err, "compression: lz4 is not supported here; expected one of `gzip`, `none`");
    }
}
