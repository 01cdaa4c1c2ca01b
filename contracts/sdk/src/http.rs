//! Outbound HTTP, for queries only (a command that calls [`send`] traps: the members of a
//! cluster would not see the same answer).
//!
//! The request leaves the enclave through the worker's untrusted host, which performs it: the
//! host sees the method, URL, headers and body, and could forge the response. Never put a
//! secret in a request, and check a signature in the response if its content matters.

use alloc::string::String;
use alloc::vec::Vec;

/// An outbound request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, … (uppercase ASCII letters).
    pub method: &'a str,
    /// An absolute `http://` or `https://` URL.
    pub url: &'a str,
    /// Header names and values (no CR or LF).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// The response to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why no response came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Connection, DNS or TLS failure, or the host did not perform it.
    Failed,
    /// No response within the executor's timeout.
    Timeout,
    /// The response was larger than the executor accepts.
    TooLarge,
    /// A field does not fit the wire format (a URL over 65,535 bytes, …).
    Encoding,
    /// The host's answer was not in the wire format.
    BadResponse,
}

/// Sends `request` through the host and waits for the response.
pub fn send(request: &Request<'_>) -> Result<Response, Error> {
    let bytes = encode(request).ok_or(Error::Encoding)?;
    match crate::http_send(&bytes) {
        -2 => Err(Error::Timeout),
        -3 => Err(Error::TooLarge),
        len if len < 0 => Err(Error::Failed),
        len => decode(&crate::http_response(len as usize)).ok_or(Error::BadResponse),
    }
}

/// The request wire format (`docs/contracts-abi.md`), little-endian:
/// `u8 method_len | method | u16 url_len | url | u8 header_count | (u16 len | name | u16 len |
/// value)* | u32 body_len | body`.
pub fn encode(request: &Request<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(16 + request.url.len() + request.body.len());
    out.push(u8::try_from(request.method.len()).ok()?);
    out.extend_from_slice(request.method.as_bytes());
    out.extend_from_slice(&u16::try_from(request.url.len()).ok()?.to_le_bytes());
    out.extend_from_slice(request.url.as_bytes());
    out.push(u8::try_from(request.headers.len()).ok()?);
    for (name, value) in request.headers {
        for text in [name, value] {
            out.extend_from_slice(&u16::try_from(text.len()).ok()?.to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.extend_from_slice(&u32::try_from(request.body.len()).ok()?.to_le_bytes());
    out.extend_from_slice(request.body);
    Some(out)
}

/// The response wire format: `u16 status | u8 header_count | headers as in requests | u32
/// body_len | body`.
pub fn decode(bytes: &[u8]) -> Option<Response> {
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        if n > rest.len() {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    let status = take(2)?;
    let status = u16::from_le_bytes([status[0], status[1]]);
    let count = take(1)?[0];
    let mut headers = Vec::new();
    for _ in 0..count {
        let mut text = || -> Option<String> {
            let len = take(2)?;
            let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            String::from_utf8(take(len)?.to_vec()).ok()
        };
        let name = text()?;
        let value = text()?;
        headers.push((name, value));
    }
    let len = take(4)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let body = take(len)?.to_vec();
    if !rest.is_empty() {
        return None;
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_abi_reference() {
        let request = Request {
            method: "POST",
            url: "https://example.com/price?pair=PHA",
            headers: &[("content-type", "application/json")],
            body: b"{}",
        };
        let hex: String = encode(&request)
            .into_iter()
            .flatten()
            .map(|b| alloc::format!("{b:02x}"))
            .collect();
        // The same bytes phalanx-contract's abi tests pin.
        assert_eq!(
            hex,
            "04504f5354220068747470733a2f2f6578616d706c652e636f6d2f70726963653f706169723d504841\
             010c00636f6e74656e742d7479706510006170706c69636174696f6e2f6a736f6e020000007b7d"
        );
    }

    #[test]
    fn decodes_a_response() {
        let bytes = [
            0xc8, 0x00, 0x01, 0x01, 0x00, b'x', 0x01, 0x00, b'y', 0x05, 0, 0, 0, b'h', b'e', b'l',
            b'l', b'o',
        ];
        let response = decode(&bytes);
        assert_eq!(
            response,
            Some(Response {
                status: 200,
                headers: alloc::vec![("x".into(), "y".into())],
                body: b"hello".to_vec(),
            })
        );
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
    }
}
