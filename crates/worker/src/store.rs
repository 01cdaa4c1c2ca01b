//! The host's sealed-state files: how a worker's enclave state reaches the disk and comes back,
//! crash-safe at every instant (the enclave side of this protocol is "Sealed state" in
//! [`crate::enclave`]).
//!
//! Two files in the data directory: [`SEALED_FILE`], the committed state, and
//! [`PENDING_FILE`], a state sealed for the next counter value and possibly not committed yet.
//!
//! # Storing a change ([`SealedStore::persist`])
//! 1. the enclave returns a [`Pending`] blob (sealed for counter `c + 1`, output held back);
//! 2. [`SealedStore::write_pending`]: write it to the pending file atomically (temporary file,
//!    fsync, rename, fsync of the directory);
//! 3. [`SealedStore::commit`]: [`Ecall::Commit`] — the enclave moves the platform counter to
//!    the pending blob and only then releases what it held back;
//! 4. [`SealedStore::promote`]: rename the pending file over the sealed file (and fsync the
//!    directory).
//!
//! # Starting ([`SealedStore::start`])
//! The pending file (if any) is offered first, then the sealed file; the enclave accepts the
//! one committed at the platform counter. What a crash at each point leaves behind, and what
//! start does with it:
//!
//! | crash after | files | start |
//! |---|---|---|
//! | 1 | sealed (`c`) | sealed accepted; the held output was never released |
//! | 2 | pending (`c + 1`, uncommitted), sealed (`c`) | pending refused and deleted, sealed accepted |
//! | 3 | pending (`c + 1`, committed), sealed (`c`) | pending accepted and promoted |
//! | 4 | sealed (`c + 1`) | sealed accepted |
//!
//! A first start has no sealed file: the enclave's new keys are pending until their first
//! commit, so a crash before it leaves only an uncommitted pending file, which is deleted and
//! the start begins again with new keys (the lost ones were never used). Any other refusal
//! stops the worker with the enclave's reason: a rolled-back sealed file
//! ([`EnclaveError::RolledBack`]) is never silently replaced by a new identity.

use std::path::{Path, PathBuf};

use crate::enclave::{
    Committed, Ecall, Enclave, EnclaveError, Pending, Reply, SimulatedPlatform, Started,
};
use crate::host::HostError;

/// The committed sealed enclave state inside the data directory.
pub const SEALED_FILE: &str = "enclave.sealed";
/// A sealed state waiting for (or just past) its commit, inside the data directory.
pub const PENDING_FILE: &str = "enclave.sealed.pending";

/// A worker's two sealed-state files (protocol in the module docs).
#[derive(Clone, Debug)]
pub struct SealedStore {
    sealed: PathBuf,
    pending: PathBuf,
}

/// How [`SealedStore::start`] started the enclave.
#[derive(Debug)]
pub struct Opened {
    /// True when the enclave created a new identity (there was no sealed state).
    pub created: bool,
    /// The file the enclave resumed from, if any.
    pub resumed_from: Option<PathBuf>,
    /// Files the enclave refused and the store deleted, with why.
    pub discarded: Vec<(PathBuf, EnclaveError)>,
}

impl SealedStore {
    /// The files of the worker whose data directory is `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        SealedStore {
            sealed: dir.join(SEALED_FILE),
            pending: dir.join(PENDING_FILE),
        }
    }

    /// The committed state's file.
    pub fn sealed_path(&self) -> &Path {
        &self.sealed
    }

    /// The pending state's file.
    pub fn pending_path(&self) -> &Path {
        &self.pending
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
        move |source| HostError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn read(path: &Path) -> Result<Option<Vec<u8>>, HostError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(path)(e)),
        }
    }

    fn remove(path: &Path) -> Result<(), HostError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(path)(e)),
        }
    }

    /// Starts the enclave from these files (table in the module docs) on the platform
    /// `platform` makes (called again when a crashed first start must begin anew), and commits
    /// a new identity before returning it.
    pub fn start(
        &self,
        mut platform: impl FnMut() -> Result<SimulatedPlatform, HostError>,
    ) -> Result<(Enclave, Opened), HostError> {
        let pending = Self::read(&self.pending)?;
        let sealed = Self::read(&self.sealed)?;
        let mut paths = Vec::new();
        let mut offered: Vec<&[u8]> = Vec::new();
        for (path, bytes) in [(&self.pending, &pending), (&self.sealed, &sealed)] {
            if let Some(bytes) = bytes {
                paths.push(path.clone());
                offered.push(bytes);
            }
        }
        let mut discarded = Vec::new();
        let (mut enclave, started) = match Enclave::start(platform()?, &offered) {
            Ok(started) => started,
            // Only a pending file, never committed: a first start that crashed before its
            // commit. Its keys were never used; start anew.
            Err(e) if sealed.is_none() && matches!(e.source, EnclaveError::NotCommitted { .. }) => {
                Self::remove(&self.pending)?;
                discarded.push((self.pending.clone(), e.source));
                Enclave::start(platform()?, &[]).map_err(|e| HostError::Enclave(e.source))?
            }
            Err(e) => {
                let path = e
                    .offered
                    .and_then(|i| paths.get(i).cloned())
                    .unwrap_or_else(|| self.sealed.clone());
                return Err(HostError::sealed_file(path, e.source));
            }
        };
        let Started {
            created,
            accepted,
            refused,
            pending: first,
        } = started;
        for (index, why) in refused {
            // Only the pending file comes before another one.
            if paths.get(index) == Some(&self.pending) {
                Self::remove(&self.pending)?;
                discarded.push((self.pending.clone(), why));
            }
        }
        let resumed_from = accepted.and_then(|i| paths.get(i).cloned());
        if resumed_from.as_ref() == Some(&self.pending) {
            self.promote()?;
        }
        if let Some(first) = first {
            // A new identity: nothing may happen before its first commit.
            Self::remove(&self.pending)?;
            self.persist(&mut enclave, &first)?;
        }
        let opened = Opened {
            created,
            resumed_from: resumed_from.map(|path| {
                if path == self.pending {
                    self.sealed.clone()
                } else {
                    path
                }
            }),
            discarded,
        };
        Ok((enclave, opened))
    }

    /// Step 2: writes `pending` to the pending file durably.
    pub fn write_pending(&self, pending: &Pending) -> Result<(), HostError> {
        crate::fs::write_atomic(&self.pending, &pending.sealed).map_err(Self::io(&self.pending))
    }

    /// Step 3: commits `pending` in the enclave, which releases what it held back.
    pub fn commit(&self, enclave: &mut Enclave, pending: &Pending) -> Result<Committed, HostError> {
        match enclave.ecall(Ecall::Commit {
            counter: pending.counter,
        }) {
            Ok(Reply::Committed(committed)) => Ok(committed),
            Ok(_) => Err(HostError::UnexpectedReply("commit")),
            Err(e) => Err(HostError::Commit(e)),
        }
    }

    /// Step 4: the committed pending file becomes the sealed file.
    pub fn promote(&self) -> Result<(), HostError> {
        crate::fs::rename_durably(&self.pending, &self.sealed).map_err(Self::io(&self.sealed))
    }

    /// Steps 2 to 4: stores and commits `pending`; returns what the commit released.
    pub fn persist(
        &self,
        enclave: &mut Enclave,
        pending: &Pending,
    ) -> Result<Committed, HostError> {
        self.write_pending(pending)?;
        let committed = self.commit(enclave, pending)?;
        self.promote()?;
        Ok(committed)
    }

    /// Seals the enclave's current state and stores it (all four steps).
    pub fn seal(&self, enclave: &mut Enclave) -> Result<Committed, HostError> {
        match enclave.ecall(Ecall::Seal)? {
            Reply::Pending(pending) => self.persist(enclave, &pending),
            _ => Err(HostError::UnexpectedReply("seal")),
        }
    }
}
