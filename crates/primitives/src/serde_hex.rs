//! Serde helpers that write byte arrays as lowercase hex strings, so policies, claims and
//! records read well in JSON/TOML (genesis files, RPC answers); the client SDK uses them for the
//! same fields. Binary formats use SCALE, not serde.

use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

/// Hex-encodes one fixed-size byte array.
pub fn serialize<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

/// Decodes one fixed-size byte array from hex (an optional `0x` prefix is accepted).
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    let text = String::deserialize(deserializer)?;
    parse::<N>(&text).map_err(D::Error::custom)
}

fn parse<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out)
        .map_err(|e| format!("expected {N} bytes as {} hex digits: {e}", 2 * N))?;
    Ok(out)
}

/// The same for a list of fixed-size byte arrays.
pub mod list {
    use super::*;
    use serde::ser::SerializeSeq;

    /// Hex-encodes each array of the list.
    pub fn serialize<S: Serializer, const N: usize>(
        list: &[[u8; N]],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&hex::encode(bytes))?;
        }
        seq.end()
    }

    /// Decodes a list of hex strings into fixed-size arrays.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<Vec<[u8; N]>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|t| parse::<N>(t).map_err(D::Error::custom))
            .collect()
    }
}

/// The same for an optional fixed-size byte array (`null` when absent).
pub mod option {
    use super::*;

    /// Hex-encodes the array, or writes `null`.
    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &Option<[u8; N]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::serialize(bytes, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Decodes a hex string or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| parse::<N>(&text).map_err(D::Error::custom))
            .transpose()
    }
}

/// The same for a byte string of any length.
pub mod bytes {
    use super::*;

    /// Hex-encodes the bytes.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    /// Decodes hex (an optional `0x` prefix is accepted).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(text.strip_prefix("0x").unwrap_or(&text)).map_err(D::Error::custom)
    }
}
