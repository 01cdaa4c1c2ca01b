//! An in-memory [`Host`] for tests (feature `testing`): committed storage in a map, outbound
//! HTTP answered by a scripted function, and every request it was asked to perform recorded.

use crate::{Host, HttpError, HttpRequest, HttpResponse, Outcome, StorageError};
use std::collections::BTreeMap;

/// How [`MemoryHost`] answers HTTP requests.
pub type HttpScript = Box<dyn FnMut(&HttpRequest) -> Result<HttpResponse, HttpError> + Send>;

/// Committed contract state in memory, plus a scripted HTTP endpoint.
pub struct MemoryHost {
    /// The committed state.
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Answers HTTP requests; by default every request fails.
    pub http: HttpScript,
    /// Every HTTP request the executor asked for, in order.
    pub http_requests: Vec<HttpRequest>,
    /// When set, every storage read fails with this reason.
    pub fail_reads: Option<String>,
}

impl std::fmt::Debug for MemoryHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryHost")
            .field("storage", &self.storage.len())
            .field("http_requests", &self.http_requests.len())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryHost {
    fn default() -> Self {
        MemoryHost {
            storage: BTreeMap::new(),
            http: Box::new(|_| Err(HttpError::Failed)),
            http_requests: Vec::new(),
            fail_reads: None,
        }
    }
}

impl MemoryHost {
    /// Applies a successful command's writes, as the enclave does after a run.
    pub fn apply(&mut self, outcome: &Outcome) {
        for (key, value) in &outcome.writes {
            match value {
                Some(value) => self.storage.insert(key.clone(), value.clone()),
                None => self.storage.remove(key),
            };
        }
    }
}

impl Host for MemoryHost {
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(reason) = &self.fail_reads {
            return Err(StorageError {
                reason: reason.clone(),
            });
        }
        Ok(self.storage.get(key).cloned())
    }

    fn http(&mut self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        self.http_requests.push(request.clone());
        (self.http)(request)
    }
}
