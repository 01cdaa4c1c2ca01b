//! The node's durable storage: finalized blocks with their certificates and outcomes, and
//! periodic state snapshots.
//!
//! Layout in the data directory:
//! - `blocks.log`: append-only; one entry per finalized height in order, each
//!   `magic ‖ len (u32 LE) ‖ payload ‖ first 8 bytes of SHA-256(payload)`, the payload being
//!   the SCALE encoding of [`StoredBlock`]. Entries are fsynced before the node reports a
//!   block as finalized. A torn tail (crash mid-write) is cut off on open.
//! - `state.snapshot`: `(height, block hash, state snapshot)` with the same checksum, written to
//!   a temporary file and renamed over the old one, so it is always whole.
//!
//! On restart the node loads the snapshot and re-executes the logged blocks after it, checking
//! each state root against the header: nothing finalized is lost and nothing is trusted that
//! was not re-derived.

use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::{decode_strict, Block, Hash};
use phalanx_runtime::BlockOutcome;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: [u8; 4] = *b"PHXB";
const SNAPSHOT_MAGIC: [u8; 4] = *b"PHXS";
/// Largest stored entry (a block plus certificate plus outcome).
const MAX_ENTRY: usize = 64 << 20;

/// `magic ‖ len ‖ payload ‖ checksum`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 16);
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(payload);
    frame.extend_from_slice(&checksum(payload));
    frame
}

/// A log as [`open_log`] opens it: the file, its bytes, and each whole entry's payload
/// `(offset, len)`.
type OpenedLog = (File, Vec<u8>, Vec<(usize, usize)>);

/// Opens (or creates) the framed log at `path` and returns it positioned at its end, with its
/// bytes and each whole entry's payload as `(offset, len)`. A crash mid-append leaves at most
/// the one entry being written, at the end: such a torn tail is cut off. A whole entry after
/// bad bytes means the log was damaged in the middle: cutting there would silently forget what
/// it holds, so that is refused.
fn open_log(path: &Path) -> Result<OpenedLog> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io(path))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io(path))?;
    let mut entries = Vec::new();
    let mut offset = 0usize;
    while let Some(len) = frame_at(&bytes, offset) {
        entries.push((offset + 8, len));
        offset += len + 16;
    }
    if offset < bytes.len() {
        let intact_after = (offset + 1..bytes.len())
            .any(|at| bytes[at..].starts_with(&MAGIC) && frame_at(&bytes, at).is_some());
        if intact_after {
            return Err(StoreError::CorruptLog {
                path: path.to_path_buf(),
                offset: offset as u64,
                height: entries.len() as u64,
            });
        }
        tracing::warn!(
            log = %path.display(),
            kept = entries.len(),
            cut_bytes = bytes.len() - offset,
            "torn tail; cutting it off"
        );
        file.set_len(offset as u64).map_err(io(path))?;
        file.sync_all().map_err(io(path))?;
    }
    file.seek(SeekFrom::End(0)).map_err(io(path))?;
    Ok((file, bytes, entries))
}

/// Opens `epochs.log` (see [`open_log`]). Entries are small and few (one per epoch), so they
/// are all held in memory.
fn open_epochs(dir: &Path) -> Result<(File, std::collections::BTreeMap<u64, ValidatorSetProof>)> {
    let (file, bytes, entries) = open_log(&dir.join("epochs.log"))?;
    let mut epochs = std::collections::BTreeMap::new();
    for (index, (offset, len)) in entries.into_iter().enumerate() {
        let set: ValidatorSetProof = decode_strict(&bytes[offset..offset + len], MAX_ENTRY)
            .map_err(|e| StoreError::Corrupt {
                height: index as u64,
                reason: format!("epochs.log: {e}"),
            })?;
        epochs.insert(set.epoch, set);
    }
    Ok((file, epochs))
}

/// Length of the payload of the whole, checksummed entry starting at `offset`, if there is one.
fn frame_at(bytes: &[u8], offset: usize) -> Option<usize> {
    let header = bytes.get(offset..offset.checked_add(8)?)?;
    if header[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_ENTRY {
        return None;
    }
    let start = offset + 8;
    let payload = bytes.get(start..start + len)?;
    let sum = bytes.get(start + len..start + len + 8)?;
    (sum == checksum(payload)).then_some(len)
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operating system refused a read or write.
    #[error("storage i/o at {path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An entry did not decode although its checksum matched.
    #[error("stored entry at height {height} is unreadable: {reason}")]
    Corrupt {
        /// Height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// The block log (or `epochs.log`) is damaged before its end (not a torn last write).
    #[error(
        "the log {path} is corrupt at byte {offset} (entry {height}) and has intact \
         entries after it; this is disk damage, not an interrupted write. Restore the data \
         directory from a backup, or move it aside and let the node resync from its peers"
    )]
    CorruptLog {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the first bad entry.
        offset: u64,
        /// Height the bad entry would have held.
        height: u64,
    },
    /// A block was appended out of order.
    #[error("block {got} appended after {have}: finalized blocks must be stored in order")]
    OutOfOrder {
        /// Height appended.
        got: u64,
        /// Height stored last.
        have: u64,
    },
}

/// A crate-wide result for storage.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What is stored per finalized height.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StoredBlock {
    /// The block.
    pub block: Block,
    /// The consensus finalization certificate (commonware codec bytes; empty for genesis).
    pub certificate: Vec<u8>,
    /// Receipts and block events.
    pub outcome: BlockOutcome,
}

/// An epoch's validator set with its proof against the state of the block before the epoch (the
/// genesis block for epoch 0, else the previous epoch's last block), so a light client can move
/// to the epoch's set (`phalanx_validatorSet`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ValidatorSetProof {
    /// The epoch the set certifies.
    pub epoch: u64,
    /// Height of the block whose state holds the set.
    pub height: u64,
    /// The validators' ed25519 keys, as the state stores them.
    pub validators: Vec<[u8; 32]>,
    /// Proof of `system/validators` against that block's state root.
    pub proof: phalanx_state::Proof,
}

/// Where one stored block lies in the block log.
#[derive(Clone, Debug)]
pub struct Location {
    path: PathBuf,
    height: u64,
    offset: u64,
    len: u32,
}

impl Location {
    /// Reads and decodes the entry.
    pub fn read(&self) -> Result<StoredBlock> {
        let path = &self.path;
        let mut file = File::open(path).map_err(io(path))?;
        file.seek(SeekFrom::Start(self.offset)).map_err(io(path))?;
        let mut payload = vec![0u8; self.len as usize];
        file.read_exact(&mut payload).map_err(io(path))?;
        decode_strict(&payload, MAX_ENTRY).map_err(|e| StoreError::Corrupt {
            height: self.height,
            reason: e.to_string(),
        })
    }
}

/// A state snapshot as loaded from disk.
#[derive(Debug)]
pub struct Snapshot {
    /// Height of the block the state is after.
    pub height: u64,
    /// That block's hash.
    pub block_hash: Hash,
    /// [`phalanx_state::State::snapshot`] bytes.
    pub state: Vec<u8>,
}

/// The append-only block log and the snapshot file.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    log: File,
    /// Byte offset and length of each height's payload; index = height.
    index: Vec<(u64, u32)>,
    /// `epochs.log`: one [`ValidatorSetProof`] per epoch, framed like the block log.
    epochs_log: File,
    epochs: std::collections::BTreeMap<u64, ValidatorSetProof>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let hash = Hash::of(payload);
    let mut out = [0u8; 8];
    out.copy_from_slice(&hash.0[..8]);
    out
}

impl Store {
    /// Opens (or creates) the store in `dir`, cutting off a torn last entry.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (log, _, entries) = open_log(&dir.join("blocks.log"))?;
        let index = entries
            .into_iter()
            .map(|(offset, len)| (offset as u64, len as u32))
            .collect();
        let (epochs_log, epochs) = open_epochs(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            log,
            index,
            epochs_log,
            epochs,
        })
    }

    /// The validator set of `epoch` with its proof, if recorded.
    pub fn validator_set(&self, epoch: u64) -> Option<&ValidatorSetProof> {
        self.epochs.get(&epoch)
    }

    /// Records an epoch's validator set and syncs it; an epoch already recorded is ignored.
    pub fn record_validator_set(&mut self, set: ValidatorSetProof) -> Result<()> {
        if self.epochs.contains_key(&set.epoch) {
            return Ok(());
        }
        let path = self.dir.join("epochs.log");
        self.epochs_log.seek(SeekFrom::End(0)).map_err(io(&path))?;
        self.epochs_log
            .write_all(&frame(&set.encode()))
            .map_err(io(&path))?;
        self.epochs_log.sync_data().map_err(io(&path))?;
        self.epochs.insert(set.epoch, set);
        Ok(())
    }

    /// Number of stored heights (the next height to append).
    pub fn len(&self) -> u64 {
        self.index.len() as u64
    }

    /// Whether nothing is stored yet.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Appends the block for the next height and syncs it to disk.
    pub fn append(&mut self, entry: &StoredBlock) -> Result<()> {
        self.append_parts(&entry.block, &entry.certificate, &entry.outcome)
    }

    /// [`Store::append`] from the entry's parts, borrowed: a node finalizing a block stores
    /// what it executed without copying the block and its receipts into an entry first. The
    /// bytes are the entry's (a SCALE struct is its fields in order).
    pub fn append_parts(
        &mut self,
        block: &Block,
        certificate: &[u8],
        outcome: &BlockOutcome,
    ) -> Result<()> {
        let height = block.height();
        if height != self.len() {
            return Err(StoreError::OutOfOrder {
                got: height,
                have: self.len().wrapping_sub(1),
            });
        }
        let payload = (block, certificate, outcome).encode();
        let path = self.dir.join("blocks.log");
        let start = self.log.seek(SeekFrom::End(0)).map_err(io(&path))?;
        self.log.write_all(&frame(&payload)).map_err(io(&path))?;
        self.log.sync_data().map_err(io(&path))?;
        self.index.push((start + 8, payload.len() as u32));
        Ok(())
    }

    /// The stored block at `height`.
    pub fn get(&self, height: u64) -> Result<Option<StoredBlock>> {
        match self.locate(height) {
            Some(location) => location.read().map(Some),
            None => Ok(None),
        }
    }

    /// Where the entry for `height` lies, to read it later without holding the store (entries
    /// are never rewritten once appended).
    pub fn locate(&self, height: u64) -> Option<Location> {
        let &(offset, len) = self.index.get(usize::try_from(height).ok()?)?;
        Some(Location {
            path: self.dir.join("blocks.log"),
            height,
            offset,
            len,
        })
    }

    /// Writes a snapshot atomically (temporary file, fsync, rename).
    pub fn write_snapshot(&self, height: u64, block_hash: Hash, state: &[u8]) -> Result<()> {
        let payload = (height, block_hash, state).encode();
        let tmp = self.dir.join("state.snapshot.tmp");
        let path = self.dir.join("state.snapshot");
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&SNAPSHOT_MAGIC).map_err(io(&tmp))?;
        file.write_all(&payload).map_err(io(&tmp))?;
        file.write_all(&checksum(&payload)).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// The last snapshot, if there is a whole one.
    pub fn read_snapshot(&self) -> Result<Option<Snapshot>> {
        let path = self.dir.join("state.snapshot");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        if bytes.len() < 12 || bytes[..4] != SNAPSHOT_MAGIC {
            tracing::warn!("ignoring a snapshot without its header");
            return Ok(None);
        }
        let (payload, sum) = bytes[4..].split_at(bytes.len() - 12);
        if sum != checksum(payload) {
            tracing::warn!("ignoring a snapshot whose checksum does not match");
            return Ok(None);
        }
        let (height, block_hash, state): (u64, Hash, Vec<u8>) = decode_strict(payload, usize::MAX)
            .map_err(|e| StoreError::Corrupt {
                height: 0,
                reason: e.to_string(),
            })?;
        Ok(Some(Snapshot {
            height,
            block_hash,
            state,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phalanx_primitives::Header;

    fn entry(height: u64) -> StoredBlock {
        StoredBlock {
            block: Block {
                header: Header {
                    parent: Hash::ZERO,
                    height,
                    timestamp_ms: height,
                    tx_root: Hash::ZERO,
                    state_root: Hash::of(&height.to_le_bytes()),
                },
                transactions: vec![],
            },
            certificate: vec![height as u8; 3],
            outcome: BlockOutcome::default(),
        }
    }

    #[test]
    fn an_entry_appended_from_its_parts_reads_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let whole = entry(0);
        store
            .append_parts(&whole.block, &whole.certificate, &whole.outcome)
            .expect("append");
        assert_eq!(store.get(0).expect("read"), Some(whole.clone()));
        assert_eq!(
            (&whole.block, whole.certificate.as_slice(), &whole.outcome).encode(),
            whole.encode(),
            "the parts encode as the entry"
        );
        let next = entry(1);
        assert!(matches!(
            store.append_parts(&next.block, &next.certificate, &next.outcome),
            Ok(())
        ));
        assert!(matches!(
            store.append_parts(&next.block, &next.certificate, &next.outcome),
            Err(StoreError::OutOfOrder { got: 1, have: 1 })
        ));
    }

    #[test]
    fn blocks_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = Store::open(dir.path()).expect("open");
            for h in 0..5 {
                store.append(&entry(h)).expect("append");
            }
            assert!(matches!(
                store.append(&entry(9)),
                Err(StoreError::OutOfOrder { got: 9, .. })
            ));
        }
        // Simulate a crash in the middle of writing height 5.
        let path = dir.path().join("blocks.log");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open log");
        file.write_all(&MAGIC).expect("write");
        file.write_all(&100u32.to_le_bytes()).expect("write");
        file.write_all(&[1, 2, 3]).expect("write");
        drop(file);
        let mut store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.len(), 5);
        assert_eq!(store.get(3).expect("read"), Some(entry(3)));
        assert_eq!(store.get(5).expect("read"), None);
        store.append(&entry(5)).expect("append after the cut");
        let store = Store::open(dir.path()).expect("reopen again");
        assert_eq!(store.len(), 6);
    }

    #[test]
    fn a_damaged_entry_in_the_middle_refuses_to_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        for h in 0..5 {
            store.append(&entry(h)).expect("append");
        }
        let (second_offset, _) = store.index[2];
        drop(store);
        let path = dir.path().join("blocks.log");
        let original = std::fs::read(&path).expect("read");
        // A flipped payload byte and a clobbered length, each in entry 2 of 5.
        for damage in [second_offset as usize + 3, second_offset as usize - 2] {
            let mut bytes = original.clone();
            bytes[damage] ^= 0x5a;
            std::fs::write(&path, &bytes).expect("write");
            match Store::open(dir.path()) {
                Err(StoreError::CorruptLog { height, .. }) => assert_eq!(height, 2),
                other => panic!("damage at byte {damage} opened as {other:?}"),
            }
            assert_eq!(
                std::fs::read(&path).expect("read"),
                bytes,
                "nothing was cut off a damaged log"
            );
        }
        let message = {
            let mut bytes = original.clone();
            bytes[second_offset as usize + 3] ^= 0x5a;
            std::fs::write(&path, &bytes).expect("write");
            Store::open(dir.path()).expect_err("refused").to_string()
        };
        assert!(message.contains("corrupt at byte"), "{message}");
        std::fs::write(&path, &original).expect("restore");
        assert_eq!(Store::open(dir.path()).expect("whole again").len(), 5);
    }

    #[test]
    fn a_flipped_byte_ends_the_log_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        for h in 0..3 {
            store.append(&entry(h)).expect("append");
        }
        drop(store);
        let path = dir.path().join("blocks.log");
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 10;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).expect("write");
        assert_eq!(Store::open(dir.path()).expect("reopen").len(), 2);
    }

    #[test]
    fn snapshots_round_trip_and_bad_ones_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        assert!(store.read_snapshot().expect("read").is_none());
        store
            .write_snapshot(7, Hash::of(b"b"), b"state")
            .expect("write");
        let snap = store.read_snapshot().expect("read").expect("present");
        assert_eq!(
            (snap.height, snap.block_hash, snap.state.as_slice()),
            (7, Hash::of(b"b"), &b"state"[..])
        );
        let path = dir.path().join("state.snapshot");
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[6] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        assert!(store.read_snapshot().expect("read").is_none());
    }

    #[test]
    fn a_damaged_epochs_log_refuses_to_open_and_a_torn_one_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let set = |epoch: u64| ValidatorSetProof {
            epoch,
            height: epoch * 64,
            validators: vec![[epoch as u8; 32]],
            proof: phalanx_state::State::new().prove(b"system/validators"),
        };
        let mut store = Store::open(dir.path()).expect("open");
        for epoch in 0..3 {
            store.record_validator_set(set(epoch)).expect("record");
        }
        drop(store);
        let path = dir.path().join("epochs.log");
        let original = std::fs::read(&path).expect("read");
        let mut damaged = original.clone();
        damaged[12] ^= 0x40;
        std::fs::write(&path, &damaged).expect("write");
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::CorruptLog { height: 0, .. })
        ));
        let mut torn = original.clone();
        torn.truncate(original.len() - 5);
        std::fs::write(&path, &torn).expect("write");
        let store = Store::open(dir.path()).expect("a torn tail is cut");
        assert!(store.validator_set(1).is_some());
        assert!(store.validator_set(2).is_none());
    }
}
