//! Scanning everything a network showed the world (files, logs, RPC answers) for secrets or
//! marker strings, raw and in the text encodings the codebase uses (tests/secrets.rs,
//! tests/contracts_dev.rs).

use std::collections::HashMap;
use std::path::Path;

/// Secrets found anywhere: (label, where).
pub type Leaks = Vec<(String, String)>;

/// The encodings a secret could be written in.
pub fn encodings(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let decimal = secret
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",");
    vec![
        ("raw", secret.to_vec()),
        ("hex", hex::encode(secret).into_bytes()),
        ("HEX", hex::encode_upper(secret).into_bytes()),
        ("base64", base64(secret).into_bytes()),
        ("decimal list", decimal.into_bytes()),
    ]
}

/// Standard base64 with padding (no dependency for one test).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every needle, indexed by its first 8 bytes so a haystack is read once.
pub struct Scanner {
    pub needles: Vec<(String, Vec<u8>)>,
    by_prefix: HashMap<[u8; 8], Vec<usize>>,
}

impl Scanner {
    pub fn new(secrets: &[(String, Vec<u8>)]) -> Scanner {
        let mut needles = Vec::new();
        let mut by_prefix: HashMap<[u8; 8], Vec<usize>> = HashMap::new();
        for (label, secret) in secrets {
            for (encoding, needle) in encodings(secret) {
                let prefix: [u8; 8] = needle[..8].try_into().expect("8 bytes");
                by_prefix.entry(prefix).or_default().push(needles.len());
                needles.push((format!("{label} ({encoding})"), needle));
            }
        }
        Scanner { needles, by_prefix }
    }

    pub fn scan(&self, haystack: &[u8], place: &str, leaks: &mut Leaks) {
        for start in 0..haystack.len().saturating_sub(7) {
            let prefix: [u8; 8] = haystack[start..start + 8].try_into().expect("8 bytes");
            let Some(candidates) = self.by_prefix.get(&prefix) else {
                continue;
            };
            for &i in candidates {
                let (label, needle) = &self.needles[i];
                if haystack[start..].starts_with(needle) {
                    leaks.push((label.clone(), format!("{place} at byte {start}")));
                }
            }
        }
    }

    pub fn scan_dir(&self, dir: &Path, leaks: &mut Leaks) -> usize {
        let mut files = 0;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let bytes = std::fs::read(&path).expect("read a data file");
                    self.scan(&bytes, &path.display().to_string(), leaks);
                    files += 1;
                }
            }
        }
        files
    }
}
