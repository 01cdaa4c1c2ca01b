//! The attestation quote a worker submits, and its strict decoder.
//!
//! Wire format (SCALE, pinned by a golden test): a one-byte kind index followed by the kind's
//! payload. `0` = [`SimulatedQuote`], `1` = raw SGX DCAP quote bytes, `2` = raw TDX DCAP quote
//! bytes (each a SCALE `Vec<u8>`: compact length, then the bytes). A chain-visible enum: new
//! kinds are only ever added at the end.

use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::attestation::QuoteKind;
use phalanx_primitives::{decode_strict, CodecError};

use crate::simulated::SimulatedQuote;

/// The largest encoded quote accepted. Real DCAP quotes are about 5 KiB (the PCK chain
/// dominates); 64 KiB leaves room without letting a registration carry megabytes.
pub const MAX_QUOTE_BYTES: usize = 64 * 1024;

/// Why quote bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// The encoded quote is over [`MAX_QUOTE_BYTES`].
    #[error("quote is {len} bytes, over the {max}-byte limit; submit the quote as produced by the quoting enclave, without padding")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// The bytes are not a valid SCALE encoding of a [`Quote`].
    #[error("quote bytes are malformed ({0}); re-encode the quote with phalanx-attestation")]
    Malformed(String),
    /// A complete quote was followed by extra bytes.
    #[error("{0} trailing bytes after the quote; submit exactly one encoded quote")]
    TrailingBytes(usize),
}

/// An attestation quote of one of the supported kinds.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Quote {
    /// A quote from a SIMULATED quoting enclave (dev and test chains only).
    #[codec(index = 0)]
    Simulated(SimulatedQuote),
    /// A raw Intel SGX DCAP quote (v3 or v4), exactly as the quoting enclave produced it.
    #[codec(index = 1)]
    SgxDcap(Vec<u8>),
    /// A raw Intel TDX DCAP quote (v4 or v5), exactly as the TD quoting enclave produced it.
    #[codec(index = 2)]
    TdxDcap(Vec<u8>),
}

impl Quote {
    /// The kind of this quote.
    pub fn kind(&self) -> QuoteKind {
        match self {
            Quote::Simulated(_) => QuoteKind::Simulated,
            Quote::SgxDcap(_) => QuoteKind::SgxDcap,
            Quote::TdxDcap(_) => QuoteKind::TdxDcap,
        }
    }

    /// The kind an encoded quote declares in its first byte (the kind index of the wire
    /// format), without decoding or verifying the rest; `None` for empty bytes or an unknown
    /// kind. Enough to price a registration before any verification work is done: decoding
    /// reads the same byte, so a quote that decodes at all is of the kind it declares and never
    /// reaches a verifier it did not pay for.
    pub fn declared_kind(encoded: &[u8]) -> Option<QuoteKind> {
        match encoded.first()? {
            0 => Some(QuoteKind::Simulated),
            1 => Some(QuoteKind::SgxDcap),
            2 => Some(QuoteKind::TdxDcap),
            _ => None,
        }
    }

    /// Decodes exactly one quote from untrusted bytes: at most [`MAX_QUOTE_BYTES`], well-formed,
    /// no trailing bytes, nesting bounded. Never panics. The decoder is the chain's one strict
    /// decoder ([`phalanx_primitives::decode_strict`]); its refusals keep their own wording here.
    pub fn decode_strict(bytes: &[u8]) -> Result<Self, QuoteError> {
        decode_strict(bytes, MAX_QUOTE_BYTES).map_err(|e| match e {
            CodecError::TooLarge { len, max } => QuoteError::TooLarge { len, max },
            CodecError::Malformed(m) => QuoteError::Malformed(m),
            CodecError::TrailingBytes(n) => QuoteError::TrailingBytes(n),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulated::{SimulatedQuotingEnclave, SimulatedReport};
    use phalanx_primitives::attestation::TcbStatus;
    use proptest::prelude::*;

    fn golden_quote() -> Quote {
        let qe = SimulatedQuotingEnclave::from_seed([7; 32]);
        qe.quote(SimulatedReport {
            measurement: [0x11; 32],
            svn: 3,
            debug: false,
            report_data: [0x22; 64],
            tcb_status: TcbStatus::SWHardeningNeeded,
            advisory_ids: vec!["INTEL-SA-00615".into()],
        })
    }

    /// Pins the wire format of a simulated quote. If this changes, every stored registration
    /// and every worker's quote encoding changes with it: bump the domain tag or add a new
    /// quote kind instead.
    #[test]
    fn golden_encoding_of_a_simulated_quote() {
        let encoded = golden_quote().encode();
        assert_eq!(hex::encode(&encoded), GOLDEN_SIMULATED_QUOTE_HEX);
        assert_eq!(Quote::decode_strict(&encoded), Ok(golden_quote()));
    }

    const GOLDEN_SIMULATED_QUOTE_HEX: &str = concat!(
    "00", // kind: Simulated
    "1111111111111111111111111111111111111111111111111111111111111111", // report.measurement
    "0300", // report.svn = 3 (u16 LE)
    "00", // report.debug = false
    "22222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222", // report.report_data
    "01", // report.tcb_status = SWHardeningNeeded
    "04", // report.advisory_ids: 1 entry
    "38494e54454c2d53412d3030363135", //   compact len 14 + "INTEL-SA-00615"
    "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c", // root (ed25519 public key of seed [7; 32])
    "df51caad0662e7e223a3b626a5f3a27e7f68c05f910d72479938ab4da126b3a1", // signature[..32]
    "7d09923a460565afbfa29482d3b7266d58a9af1018d760a1f59f570d2cd5290e", // signature[32..]
);

    #[test]
    fn dcap_kinds_encode_as_index_then_length_prefixed_bytes() {
        assert_eq!(
            Quote::SgxDcap(vec![0xaa, 0xbb]).encode(),
            vec![1, 8, 0xaa, 0xbb]
        );
        assert_eq!(Quote::TdxDcap(vec![]).encode(), vec![2, 0]);
    }

    #[test]
    fn the_declared_kind_is_the_first_byte_of_the_encoding() {
        assert_eq!(
            Quote::declared_kind(&golden_quote().encode()),
            Some(QuoteKind::Simulated)
        );
        assert_eq!(
            Quote::declared_kind(&Quote::SgxDcap(vec![1]).encode()),
            Some(QuoteKind::SgxDcap)
        );
        assert_eq!(
            Quote::declared_kind(&Quote::TdxDcap(vec![]).encode()),
            Some(QuoteKind::TdxDcap)
        );
        assert_eq!(Quote::declared_kind(&[]), None);
        assert_eq!(Quote::declared_kind(&[3, 0]), None);
    }

    #[test]
    fn refuses_trailing_oversized_truncated_and_unknown_kind() {
        let bytes = golden_quote().encode();
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            Quote::decode_strict(&trailing),
            Err(QuoteError::TrailingBytes(1))
        );
        assert!(matches!(
            Quote::decode_strict(&bytes[..bytes.len() - 1]),
            Err(QuoteError::Malformed(_))
        ));
        assert!(matches!(
            Quote::decode_strict(&[3, 0]),
            Err(QuoteError::Malformed(_))
        ));
        let huge = Quote::SgxDcap(vec![0; MAX_QUOTE_BYTES]).encode();
        assert_eq!(
            Quote::decode_strict(&huge),
            Err(QuoteError::TooLarge {
                len: huge.len(),
                max: MAX_QUOTE_BYTES
            })
        );
        // A length prefix claiming ~1 GiB with nothing behind it.
        assert!(matches!(
            Quote::decode_strict(&[1, 0xfe, 0xff, 0xff, 0xff, 0]),
            Err(QuoteError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            // Either a quote that re-encodes to exactly these bytes, or a typed error.
            if let Ok(quote) = Quote::decode_strict(&bytes) {
                prop_assert_eq!(quote.encode(), bytes);
            }
        }

        #[test]
        fn decoding_mutated_valid_quotes_never_panics(
            index in 0usize..400,
            value in any::<u8>(),
            cut in 0usize..400,
        ) {
            let mut bytes = golden_quote().encode();
            let i = index % bytes.len();
            bytes[i] = value;
            bytes.truncate(bytes.len() - cut % bytes.len());
            if let Ok(quote) = Quote::decode_strict(&bytes) {
                prop_assert_eq!(quote.encode(), bytes);
            }
        }

        #[test]
        fn dcap_quotes_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..4096), tdx in any::<bool>()) {
            let quote = if tdx { Quote::TdxDcap(raw) } else { Quote::SgxDcap(raw) };
            prop_assert_eq!(Quote::decode_strict(&quote.encode()), Ok(quote));
        }
    }
}
