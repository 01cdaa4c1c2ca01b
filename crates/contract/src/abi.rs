//! The host ABI a contract is linked against, as data: the import module, every host function
//! with its exact signature, the entry points, the fuel each host call costs, the codes a host
//! function returns, and the byte format of an outbound HTTP request and response.
//!
//! `docs/contracts-abi.md` is the reference for contract authors; this module is what
//! [`crate::validate`] checks imports against and what the executor links. The SDK in
//! `contracts/sdk` declares the same functions; a change here is a change of the ABI and must be
//! made in all three places.
//!
//! All pointers and lengths are `i32` offsets and byte counts into the contract's exported
//! memory `memory`, read as unsigned. A pointer range outside the memory traps.

use wasmi::ValType;

/// The only module a contract may import from.
pub const IMPORT_MODULE: &str = "phalanx";

/// The exported memory every contract must have.
pub const MEMORY_EXPORT: &str = "memory";

/// The entry point a command runs: `call() -> i32`.
pub const CALL_ENTRY: &str = "call";

/// The entry point a query runs: `query() -> i32`.
pub const QUERY_ENTRY: &str = "query";

/// The entry points every contract exports, each `() -> i32`. `0` means success; any other value
/// means the contract refused the request (its output then says why, and nothing persists).
pub const ENTRIES: [&str; 2] = [CALL_ENTRY, QUERY_ENTRY];

/// What a host function returns for "no such value" (`storage_get` of an absent key).
pub const ABSENT: i32 = -1;

/// `http_request`'s return value when the request failed (connection refused, TLS, DNS, …).
pub const HTTP_FAILED: i32 = -1;
/// `http_request`'s return value when the request timed out.
pub const HTTP_TIMEOUT: i32 = -2;
/// `http_request`'s return value when the response was larger than allowed.
pub const HTTP_RESPONSE_TOO_LARGE: i32 = -3;

/// One host function: its import name and exact signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFunction {
    /// The import name inside [`IMPORT_MODULE`].
    pub name: &'static str,
    /// Parameter types, in order.
    pub params: &'static [ValType],
    /// Result types.
    pub results: &'static [ValType],
}

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// Every host function a contract may import. A contract imports any subset of them.
pub const HOST_FUNCTIONS: [HostFunction; 13] = [
    // input_len() -> len
    HostFunction {
        name: "input_len",
        params: &[],
        results: &[I32],
    },
    // input_read(ptr): copies the whole input (input_len bytes) to ptr.
    HostFunction {
        name: "input_read",
        params: &[I32],
        results: &[],
    },
    // output(ptr, len): sets the output, replacing any earlier one.
    HostFunction {
        name: "output",
        params: &[I32, I32],
        results: &[],
    },
    // storage_get(key_ptr, key_len, val_ptr, val_cap) -> len | ABSENT
    HostFunction {
        name: "storage_get",
        params: &[I32, I32, I32, I32],
        results: &[I32],
    },
    // storage_set(key_ptr, key_len, val_ptr, val_len)
    HostFunction {
        name: "storage_set",
        params: &[I32, I32, I32, I32],
        results: &[],
    },
    // storage_remove(key_ptr, key_len)
    HostFunction {
        name: "storage_remove",
        params: &[I32, I32],
        results: &[],
    },
    // caller(ptr): writes the caller's 32-byte account id.
    HostFunction {
        name: "caller",
        params: &[I32],
        results: &[],
    },
    // block_height() -> height
    HostFunction {
        name: "block_height",
        params: &[],
        results: &[I64],
    },
    // block_time_ms() -> unix time in milliseconds
    HostFunction {
        name: "block_time_ms",
        params: &[],
        results: &[I64],
    },
    // random(ptr, len): fills len bytes from the run's random stream.
    HostFunction {
        name: "random",
        params: &[I32, I32],
        results: &[],
    },
    // event(ptr, len): emits an event.
    HostFunction {
        name: "event",
        params: &[I32, I32],
        results: &[],
    },
    // http_request(req_ptr, req_len) -> response len | HTTP_* (queries only)
    HostFunction {
        name: "http_request",
        params: &[I32, I32],
        results: &[I32],
    },
    // http_response_read(ptr): copies the last response (its length was returned) to ptr.
    HostFunction {
        name: "http_response_read",
        params: &[I32],
        results: &[],
    },
];

/// The host function named `name`, if the ABI has one.
pub fn host_function(name: &str) -> Option<&'static HostFunction> {
    HOST_FUNCTIONS.iter().find(|f| f.name == name)
}

// ---------------------------------------------------------------------------------------------
// Fuel
// ---------------------------------------------------------------------------------------------

/// Fuel every host call costs before its bytes (about a hundred WASM instructions).
pub const HOST_CALL_FUEL: u64 = 100;
/// Fuel per byte a host call copies between the host and the contract's memory.
pub const FUEL_PER_BYTE: u64 = 1;
/// Extra fuel per byte of key and value a `storage_set` writes: written state is kept by every
/// member of the cluster.
pub const WRITE_FUEL_PER_BYTE: u64 = 10;
/// Extra fuel per byte of randomness (a SHA-256 block per 32 bytes).
pub const RANDOM_FUEL_PER_BYTE: u64 = 4;
/// Fuel one outbound HTTP request costs before its bytes.
pub const HTTP_CALL_FUEL: u64 = 100_000;

// ---------------------------------------------------------------------------------------------
// Outbound HTTP (queries only)
// ---------------------------------------------------------------------------------------------

/// The longest HTTP method name (`GET`, `POST`, …).
pub const MAX_HTTP_METHOD_BYTES: usize = 16;
/// The longest URL.
pub const MAX_HTTP_URL_BYTES: usize = 2048;
/// The most headers in a request or response.
pub const MAX_HTTP_HEADERS: usize = 32;

/// An outbound HTTP request, as the contract asked for it and as the untrusted host performs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method: 1 to [`MAX_HTTP_METHOD_BYTES`] uppercase ASCII letters.
    pub method: String,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Header names and values (no CR or LF anywhere).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// How long the host may wait for the whole response.
    pub timeout_ms: u64,
    /// The largest response (encoded as [`HttpResponse::encode`]) the contract accepts.
    pub max_response_bytes: usize,
}

/// The answer to an [`HttpRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Why a request's bytes are not a valid request (the contract then traps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpFormatError {
    /// The bytes end before the request does.
    #[error("the request ends early")]
    Truncated,
    /// Bytes follow the body.
    #[error("bytes follow the request body")]
    TrailingBytes,
    /// The method is empty, too long or not uppercase ASCII letters.
    #[error("the method must be 1 to 16 uppercase ASCII letters")]
    BadMethod,
    /// The URL is not UTF-8, too long, or not `http://`/`https://`.
    #[error("the url must be an http:// or https:// URL of at most 2048 bytes")]
    BadUrl,
    /// A header name or value is not UTF-8 or holds CR, LF or (in a name) `:` or a space.
    #[error("a header name or value is not UTF-8 or holds a forbidden character")]
    BadHeader,
    /// More than [`MAX_HTTP_HEADERS`] headers.
    #[error("more than 32 headers")]
    TooManyHeaders,
}

/// Reads the wire format a contract writes to memory (all integers little-endian):
///
/// ```text
/// u8  method_len | method
/// u16 url_len    | url
/// u8  header_count, then per header: u16 name_len | name | u16 value_len | value
/// u32 body_len   | body
/// ```
///
/// `timeout_ms` and `max_response_bytes` come from the executor's limits, never the contract.
pub fn decode_http_request(
    bytes: &[u8],
    timeout_ms: u64,
    max_response_bytes: usize,
) -> Result<HttpRequest, HttpFormatError> {
    let mut r = Cursor { bytes };
    let method_len = usize::from(r.u8()?);
    let method = r.take(method_len)?;
    if method.is_empty()
        || method.len() > MAX_HTTP_METHOD_BYTES
        || !method.iter().all(u8::is_ascii_uppercase)
    {
        return Err(HttpFormatError::BadMethod);
    }
    let url_len = usize::from(r.u16()?);
    let url = std::str::from_utf8(r.take(url_len)?).map_err(|_| HttpFormatError::BadUrl)?;
    if url.len() > MAX_HTTP_URL_BYTES
        || !(url.starts_with("https://") || url.starts_with("http://"))
        || url.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(HttpFormatError::BadUrl);
    }
    let headers = r.headers()?;
    let body_len = usize::try_from(r.u32()?).map_err(|_| HttpFormatError::Truncated)?;
    let body = r.take(body_len)?.to_vec();
    if !r.bytes.is_empty() {
        return Err(HttpFormatError::TrailingBytes);
    }
    Ok(HttpRequest {
        // Checked ASCII above.
        method: String::from_utf8_lossy(method).into_owned(),
        url: url.to_owned(),
        headers,
        body,
        timeout_ms,
        max_response_bytes,
    })
}

impl HttpRequest {
    /// The wire format [`decode_http_request`] reads. Lengths that do not fit their field are
    /// an error, never truncated.
    pub fn encode(&self) -> Result<Vec<u8>, HttpFormatError> {
        let mut out = Vec::with_capacity(16 + self.url.len() + self.body.len());
        let method_len = u8::try_from(self.method.len()).map_err(|_| HttpFormatError::BadMethod)?;
        out.push(method_len);
        out.extend_from_slice(self.method.as_bytes());
        let url_len = u16::try_from(self.url.len()).map_err(|_| HttpFormatError::BadUrl)?;
        out.extend_from_slice(&url_len.to_le_bytes());
        out.extend_from_slice(self.url.as_bytes());
        encode_headers(&mut out, &self.headers)?;
        let body_len = u32::try_from(self.body.len()).map_err(|_| HttpFormatError::Truncated)?;
        out.extend_from_slice(&body_len.to_le_bytes());
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

impl HttpResponse {
    /// What the contract reads back (all integers little-endian):
    ///
    /// ```text
    /// u16 status
    /// u8  header_count, then per header: u16 name_len | name | u16 value_len | value
    /// u32 body_len | body
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>, HttpFormatError> {
        let mut out = Vec::with_capacity(8 + self.body.len());
        out.extend_from_slice(&self.status.to_le_bytes());
        encode_headers(&mut out, &self.headers)?;
        let body_len = u32::try_from(self.body.len()).map_err(|_| HttpFormatError::Truncated)?;
        out.extend_from_slice(&body_len.to_le_bytes());
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    /// Reads [`HttpResponse::encode`]'s format.
    pub fn decode(bytes: &[u8]) -> Result<HttpResponse, HttpFormatError> {
        let mut r = Cursor { bytes };
        let status = r.u16()?;
        let headers = r.headers()?;
        let body_len = usize::try_from(r.u32()?).map_err(|_| HttpFormatError::Truncated)?;
        let body = r.take(body_len)?.to_vec();
        if !r.bytes.is_empty() {
            return Err(HttpFormatError::TrailingBytes);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn encode_headers(out: &mut Vec<u8>, headers: &[(String, String)]) -> Result<(), HttpFormatError> {
    if headers.len() > MAX_HTTP_HEADERS {
        return Err(HttpFormatError::TooManyHeaders);
    }
    // Fits: MAX_HTTP_HEADERS < 256.
    out.push(headers.len() as u8);
    for (name, value) in headers {
        for text in [name, value] {
            let len = u16::try_from(text.len()).map_err(|_| HttpFormatError::BadHeader)?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
    Ok(())
}

/// A reader that never reads past its bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HttpFormatError> {
        if n > self.bytes.len() {
            return Err(HttpFormatError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, HttpFormatError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, HttpFormatError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, HttpFormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn text(&mut self) -> Result<&'a str, HttpFormatError> {
        let len = usize::from(self.u16()?);
        let text = std::str::from_utf8(self.take(len)?).map_err(|_| HttpFormatError::BadHeader)?;
        if text.contains(['\r', '\n', '\0']) {
            return Err(HttpFormatError::BadHeader);
        }
        Ok(text)
    }

    fn headers(&mut self) -> Result<Vec<(String, String)>, HttpFormatError> {
        let count = usize::from(self.u8()?);
        if count > MAX_HTTP_HEADERS {
            return Err(HttpFormatError::TooManyHeaders);
        }
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.text()?;
            if name.is_empty() || name.contains([':', ' ']) {
                return Err(HttpFormatError::BadHeader);
            }
            let value = self.text()?;
            headers.push((name.to_owned(), value.to_owned()));
        }
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn request() -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            url: "https://example.com/price?pair=PHA".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
            timeout_ms: 5_000,
            max_response_bytes: 1024,
        }
    }

    /// The request format, pinned byte for byte (docs/contracts-abi.md shows the same bytes).
    #[test]
    fn request_encoding_is_pinned() {
        let bytes = request().encode().unwrap();
        // method "POST", url (34 bytes), one header content-type: application/json, body "{}".
        let expected = concat!(
            "04",
            "504f5354",
            "2200",
            "68747470733a2f2f6578616d706c652e636f6d2f70726963653f706169723d504841",
            "01",
            "0c00",
            "636f6e74656e742d74797065",
            "1000",
            "6170706c69636174696f6e2f6a736f6e",
            "02000000",
            "7b7d",
        );
        assert_eq!(hex(&bytes), expected);
        assert_eq!(decode_http_request(&bytes, 5_000, 1024).unwrap(), request());
    }

    #[test]
    fn response_round_trips() {
        let response = HttpResponse {
            status: 200,
            headers: vec![("x".into(), "y".into())],
            body: b"hello".to_vec(),
        };
        let bytes = response.encode().unwrap();
        assert_eq!(hex(&bytes), "c800010100780100790500000068656c6c6f");
        assert_eq!(HttpResponse::decode(&bytes).unwrap(), response);
    }

    #[test]
    fn refuses_bad_requests() {
        let mut bad = request();
        bad.method = "get".into();
        let bytes = bad.encode().unwrap();
        assert_eq!(
            decode_http_request(&bytes, 1, 1),
            Err(HttpFormatError::BadMethod)
        );
        let mut bad = request();
        bad.url = "file:///etc/passwd".into();
        assert_eq!(
            decode_http_request(&bad.encode().unwrap(), 1, 1),
            Err(HttpFormatError::BadUrl)
        );
        let mut bad = request();
        bad.headers = vec![("x".into(), "a\r\nInjected: yes".into())];
        assert_eq!(
            decode_http_request(&bad.encode().unwrap(), 1, 1),
            Err(HttpFormatError::BadHeader)
        );
        let mut bytes = request().encode().unwrap();
        bytes.push(0);
        assert_eq!(
            decode_http_request(&bytes, 1, 1),
            Err(HttpFormatError::TrailingBytes)
        );
        let bytes = request().encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(
                decode_http_request(&bytes[..cut], 1, 1).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_host_function_is_found_by_name() {
        for f in &HOST_FUNCTIONS {
            assert_eq!(host_function(f.name), Some(f));
        }
        assert_eq!(host_function("exit"), None);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_http_request(&bytes, 1, 1);
            let _ = HttpResponse::decode(&bytes);
        }
    }
}
