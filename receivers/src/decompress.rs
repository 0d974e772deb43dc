//! Bounded decompression of request bodies.
//!
//! A few kilobytes of gzip or zstd can expand to gigabytes (a "decompression bomb"), so every
//! function here streams the decoder into a buffer that may grow to at most `limit` bytes and
//! fails with [`DecompressError::TooLarge`] as soon as the output would pass it. Memory used is
//! therefore bounded by `limit` (plus the decoder's own state, which for zstd is also capped, see
//! [`unzstd`]), whatever the input claims.

use std::io::Read;

/// A `Content-Encoding` the receivers can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// No compression (no header, an empty one, or `identity`).
    Identity,
    Gzip,
    Zstd,
    /// zlib (RFC 1950), sent as `deflate` or `zlib` (Go's `confighttp` reads both so).
    Zlib,
}

impl Encoding {
    /// Reads a `Content-Encoding` header value; `None` (no header) is identity.
    pub(crate) fn from_header(value: Option<&str>) -> Result<Encoding, DecompressError> {
        let Some(raw) = value else { return Ok(Encoding::Identity) };
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "zstd" => Ok(Encoding::Zstd),
            "deflate" | "zlib" => Ok(Encoding::Zlib),
            _ => Err(DecompressError::Unsupported(raw.to_string())),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
            Encoding::Zlib => "deflate",
        }
    }
}

/// Why a body could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecompressError {
    /// The `Content-Encoding` is not one this receiver decodes.
    #[error("unsupported Content-Encoding: {0}")]
    Unsupported(String),
    /// The decompressed body would be larger than the limit.
    #[error("the decompressed body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The compressed data is corrupt or truncated.
    #[error("invalid {encoding} data: {source}")]
    Corrupt { encoding: &'static str, source: std::io::Error },
}

/// Decodes `input` as `encoding`, producing at most `limit` bytes.
///
/// Identity input is returned as it is (no copy); its size is checked against `limit` too.
pub(crate) fn decompress(
    encoding: Encoding,
    input: bytes::Bytes,
    limit: usize,
) -> Result<bytes::Bytes, DecompressError> {
    match encoding {
        Encoding::Identity if input.len() > limit => Err(DecompressError::TooLarge { limit }),
        Encoding::Identity => Ok(input),
        Encoding::Gzip => gunzip(&input, limit).map(bytes::Bytes::from),
        Encoding::Zstd => unzstd(&input, limit).map(bytes::Bytes::from),
        Encoding::Zlib => {
            read_bounded(flate2::read::ZlibDecoder::new(&input[..]), limit, Encoding::Zlib).map(bytes::Bytes::from)
        }
    }
}

/// Decodes gzip (every member of a multi-member stream, as `gzip -d` does) into at most
/// `limit` bytes.
pub(crate) fn gunzip(input: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    read_bounded(flate2::read::MultiGzDecoder::new(input), limit, Encoding::Gzip)
}

/// Decodes zstd (every frame) into at most `limit` bytes.
///
/// A zstd frame announces the window the decoder must keep, up to gigabytes; the window is
/// capped at the larger of 8 MiB (what the zstd format recommends every decoder support) and
/// `limit`, since a window larger than the whole allowed output is never needed.
pub(crate) fn unzstd(input: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let corrupt = |source| DecompressError::Corrupt { encoding: Encoding::Zstd.as_str(), source };
    let mut decoder = zstd::stream::read::Decoder::new(input).map_err(corrupt)?;
    decoder.window_log_max(zstd_window_log(limit)).map_err(corrupt)?;
    read_bounded(decoder, limit, Encoding::Zstd)
}

/// log2 of the largest zstd window accepted for an output limit of `limit` bytes.
fn zstd_window_log(limit: usize) -> u32 {
    /// 8 MiB, the window size the zstd format says decoders should support.
    const RECOMMENDED_LOG: u32 = 23;
    /// The largest window log zstd defines for 64-bit platforms.
    const MAX_LOG: u32 = 31;
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(RECOMMENDED_LOG, MAX_LOG)
}

/// Reads `reader` to the end, failing once more than `limit` bytes come out.
fn read_bounded(reader: impl Read, limit: usize, encoding: Encoding) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it" without reading more.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|source| DecompressError::Corrupt { encoding: encoding.as_str(), source })?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("writing to a Vec cannot fail");
        e.finish().expect("writing to a Vec cannot fail")
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 3).expect("compressing from a slice cannot fail")
    }

    #[test]
    fn gzip_round_trips() {
        let data = b"hello, otlp".repeat(100);
        assert_eq!(gunzip(&gzip(&data), data.len()).unwrap(), data);
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let mut input = gzip(b"first ");
        input.extend(gzip(b"second"));
        assert_eq!(gunzip(&input, 100).unwrap(), b"first second");
    }

    #[test]
    fn zstd_round_trips() {
        let data = b"hello, otlp".repeat(100);
        assert_eq!(unzstd(&zstd(&data), data.len()).unwrap(), data);
    }

    #[test]
    fn gzip_bomb_is_stopped_at_the_limit() {
        // 16 MiB of zeros compresses to about 16 KiB.
        let bomb = gzip(&vec![0u8; 16 << 20]);
        assert!(bomb.len() < 64 << 10);
        let err = gunzip(&bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, DecompressError::TooLarge { limit } if limit == 1 << 20), "{err}");
    }

    #[test]
    fn zstd_bomb_is_stopped_at_the_limit() {
        let bomb = zstd(&vec![0u8; 16 << 20]);
        let err = unzstd(&bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, DecompressError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn output_exactly_at_the_limit_is_accepted() {
        let data = vec![7u8; 1000];
        assert_eq!(gunzip(&gzip(&data), 1000).unwrap().len(), 1000);
        assert!(matches!(gunzip(&gzip(&data), 999), Err(DecompressError::TooLarge { .. })));
    }

    #[test]
    fn corrupt_input_names_the_encoding() {
        let err = gunzip(b"definitely not gzip", 100).unwrap_err();
        assert!(err.to_string().starts_with("invalid gzip data"), "{err}");
        let err = unzstd(b"definitely not zstd", 100).unwrap_err();
        assert!(err.to_string().starts_with("invalid zstd data"), "{err}");
    }

    #[test]
    fn truncated_gzip_is_corrupt() {
        let input = gzip(&b"abc".repeat(1000));
        let err = gunzip(&input[..input.len() / 2], 10_000).unwrap_err();
        assert!(matches!(err, DecompressError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn identity_is_passed_through_and_limited() {
        let body = bytes::Bytes::from_static(b"raw");
        assert_eq!(decompress(Encoding::Identity, body.clone(), 3).unwrap(), body);
        assert!(matches!(decompress(Encoding::Identity, body, 2), Err(DecompressError::TooLarge { limit: 2 })));
    }

    #[test]
    fn content_encoding_header_is_parsed() {
        assert_eq!(Encoding::from_header(None).unwrap(), Encoding::Identity);
        assert_eq!(Encoding::from_header(Some("")).unwrap(), Encoding::Identity);
        assert_eq!(Encoding::from_header(Some("identity")).unwrap(), Encoding::Identity);
        assert_eq!(Encoding::from_header(Some("GZIP")).unwrap(), Encoding::Gzip);
        assert_eq!(Encoding::from_header(Some("zstd")).unwrap(), Encoding::Zstd);
        let err = Encoding::from_header(Some("br")).unwrap_err();
        assert_eq!(err.to_string(), "unsupported Content-Encoding: br");
    }

    #[test]
    fn zstd_window_is_capped_between_8_mib_and_the_limit() {
        assert_eq!(zstd_window_log(1), 23);
        assert_eq!(zstd_window_log(8 << 20), 23);
        assert_eq!(zstd_window_log(20 << 20), 25);
        assert_eq!(zstd_window_log(usize::MAX), 31);
    }
}
