//! The one way untrusted bytes become values.
//!
//! Every decoder of bytes that came from outside the process — RPC submissions, blocks from
//! peers, messages from enclaves — goes through [`decode_strict`]: the input must fit a size
//! limit, nesting must stay under a depth limit, and every byte must be consumed.

use parity_scale_codec::{Decode, DecodeLimit};

/// Nesting depth allowed in any decoded value.
pub const MAX_DEPTH: u32 = 32;

/// Why bytes were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The input is larger than this kind of value may be.
    #[error("input is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// A valid value was followed by extra bytes.
    #[error("{0} trailing bytes after a complete value")]
    TrailingBytes(usize),
}

/// Decodes exactly one `T` from `bytes`, refusing anything larger than `max_len`, nested
/// deeper than [`MAX_DEPTH`], malformed, or followed by trailing bytes.
pub fn decode_strict<T: Decode>(bytes: &[u8], max_len: usize) -> Result<T, CodecError> {
    if bytes.len() > max_len {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let mut input = bytes;
    let value = T::decode_with_depth_limit(MAX_DEPTH, &mut input)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if !input.is_empty() {
        return Err(CodecError::TrailingBytes(input.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Encode;

    #[test]
    fn refuses_trailing_oversized_and_truncated() {
        let bytes = (7u32, vec![1u8, 2, 3]).encode();
        assert_eq!(
            decode_strict::<(u32, Vec<u8>)>(&bytes, 64),
            Ok((7, vec![1, 2, 3]))
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            decode_strict::<(u32, Vec<u8>)>(&trailing, 64),
            Err(CodecError::TrailingBytes(1))
        );
        assert_eq!(
            decode_strict::<(u32, Vec<u8>)>(&bytes, 4),
            Err(CodecError::TooLarge {
                len: bytes.len(),
                max: 4
            })
        );
        assert!(matches!(
            decode_strict::<(u32, Vec<u8>)>(&bytes[..bytes.len() - 1], 64),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn a_huge_length_prefix_does_not_allocate_or_panic() {
        // Compact length claiming ~2^30 elements, followed by almost nothing.
        let bytes = [0xfe, 0xff, 0xff, 0xff, 0x00];
        assert!(decode_strict::<Vec<u64>>(&bytes, 64).is_err());
    }
}
