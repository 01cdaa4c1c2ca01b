//! Write Phalanx confidential contracts in Rust.
//!
//! A contract is a `cdylib` built for `wasm32-unknown-unknown` that exports `call` (commands:
//! ordered on chain, run by every member of the cluster, may change state) and `query` (read-only,
//! answered by one worker, may make outbound HTTP requests, persists nothing). The
//! [`entry_points!`] macro defines both from two handlers:
//!
//! ```ignore
//! #![no_std]
//! extern crate alloc;
//! use alloc::vec::Vec;
//! use phalanx_contract_sdk::{self as sdk, Response};
//!
//! fn call(input: &[u8]) -> Response { sdk::storage_set(b"last", input); Ok(b"ok".to_vec()) }
//! fn query(_input: &[u8]) -> Response { sdk::storage_get(b"last").ok_or_else(|| sdk::refusal("empty")) }
//!
//! sdk::entry_points!(call: call, query: query);
//! ```
//!
//! The host ABI these functions wrap is `docs/contracts-abi.md`; the host side is the
//! `phalanx-contract` crate. This crate has no dependencies.
//!
//! # Memory
//!
//! The global allocator (on `wasm32` only) is a bump allocator: it hands out memory upwards from
//! the linker's `__heap_base`, growing the memory when needed, and never frees. That is enough
//! because every command or query runs in a fresh instance whose memory is dropped afterwards,
//! and it keeps contracts small. A contract that allocates in a loop without bound hits the
//! executor's memory limit and fails cleanly.
//!
//! # Panics
//!
//! The panic handler (on `wasm32` only) executes `unreachable`: the run traps, its writes are
//! discarded, and the caller gets an error. Return a [`refusal`] instead to say why a request is
//! refused (status 1, the reason as output, nothing written).
//!
//! # Floats
//!
//! Uploaded code may not contain floating point; do not use `f32`/`f64` (nor `core::fmt` of
//! them). The [`text`] helpers format and parse integers without `core::fmt`.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

pub mod http;
pub mod text;

/// The raw imports of module `phalanx`. Every other function of this crate is a safe wrapper
/// over one of them; this is the only place contract code meets `unsafe`.
mod sys {
    #[link(wasm_import_module = "phalanx")]
    extern "C" {
        pub fn input_len() -> i32;
        pub fn input_read(ptr: *mut u8);
        pub fn output(ptr: *const u8, len: i32);
        pub fn storage_get(key_ptr: *const u8, key_len: i32, val_ptr: *mut u8, val_cap: i32)
            -> i32;
        pub fn storage_set(key_ptr: *const u8, key_len: i32, val_ptr: *const u8, val_len: i32);
        pub fn storage_remove(key_ptr: *const u8, key_len: i32);
        pub fn caller(ptr: *mut u8);
        pub fn block_height() -> i64;
        pub fn block_time_ms() -> i64;
        pub fn random(ptr: *mut u8, len: i32);
        pub fn event(ptr: *const u8, len: i32);
        pub fn http_request(ptr: *const u8, len: i32) -> i32;
        pub fn http_response_read(ptr: *mut u8);
    }
}

/// What a handler returns: the output on success, or a refusal's reason (status 1; nothing the
/// run wrote persists).
pub type Response = Result<Vec<u8>, Vec<u8>>;

/// A refusal with `reason` as its output.
pub fn refusal(reason: &str) -> Vec<u8> {
    reason.as_bytes().to_vec()
}

/// Lengths cross the ABI as `i32`; the executor bounds every one far below 2 GiB, and a slice
/// in a 32-bit memory is shorter than 4 GiB, read back as unsigned by the host.
fn len_i32(len: usize) -> i32 {
    len as i32
}

/// The request's input bytes.
pub fn input() -> Vec<u8> {
    // SAFETY: the host reports the input's length, then writes exactly that many bytes into
    // the buffer, which has that length.
    unsafe {
        let len = sys::input_len() as u32 as usize;
        let mut buf = vec![0u8; len];
        sys::input_read(buf.as_mut_ptr());
        buf
    }
}

/// Sets the output, replacing any earlier one.
pub fn output(bytes: &[u8]) {
    // SAFETY: the host reads `bytes.len()` bytes from a live slice.
    unsafe { sys::output(bytes.as_ptr(), len_i32(bytes.len())) }
}

/// The value stored under `key` (this run's own writes included), if any.
pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    // Most values are small: one call with a 256-byte buffer, a second only for larger ones.
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: the host reads `key` and writes at most `buf.len()` bytes into `buf`.
        let len = unsafe {
            sys::storage_get(
                key.as_ptr(),
                len_i32(key.len()),
                buf.as_mut_ptr(),
                len_i32(buf.len()),
            )
        };
        if len < 0 {
            return None;
        }
        let len = len as usize;
        if len <= buf.len() {
            buf.truncate(len);
            return Some(buf);
        }
        buf = vec![0u8; len];
    }
}

/// Stores `value` under `key` (a command's writes persist only if it succeeds).
pub fn storage_set(key: &[u8], value: &[u8]) {
    // SAFETY: the host reads both live slices.
    unsafe {
        sys::storage_set(
            key.as_ptr(),
            len_i32(key.len()),
            value.as_ptr(),
            len_i32(value.len()),
        )
    }
}

/// Removes `key`.
pub fn storage_remove(key: &[u8]) {
    // SAFETY: the host reads a live slice.
    unsafe { sys::storage_remove(key.as_ptr(), len_i32(key.len())) }
}

/// The 32-byte account id of whoever sent the command or query.
pub fn caller() -> [u8; 32] {
    let mut id = [0u8; 32];
    // SAFETY: the host writes exactly 32 bytes.
    unsafe { sys::caller(id.as_mut_ptr()) };
    id
}

/// The height of the block the command was ordered in (a query: the worker's verified head).
pub fn block_height() -> u64 {
    // SAFETY: no memory is involved.
    unsafe { sys::block_height() as u64 }
}

/// That block's time, in milliseconds since the Unix epoch.
pub fn block_time_ms() -> u64 {
    // SAFETY: no memory is involved.
    unsafe { sys::block_time_ms() as u64 }
}

/// Fills `buf` with random bytes: the same on every member for a command (so they agree),
/// fresh enclave randomness for a query. Never visible outside the enclave.
pub fn random_bytes(buf: &mut [u8]) {
    // SAFETY: the host writes exactly `buf.len()` bytes into `buf`.
    unsafe { sys::random(buf.as_mut_ptr(), len_i32(buf.len())) }
}

/// A random `u64` (see [`random_bytes`]).
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    random_bytes(&mut b);
    u64::from_le_bytes(b)
}

/// Emits an event (a command's events are kept only if it succeeds; a query's never).
pub fn emit_event(bytes: &[u8]) {
    // SAFETY: the host reads a live slice.
    unsafe { sys::event(bytes.as_ptr(), len_i32(bytes.len())) }
}

/// Runs `handler` on the input, sets its output and returns the entry point's status. Used by
/// [`entry_points!`].
pub fn run(handler: fn(&[u8]) -> Response) -> i32 {
    let input = input();
    match handler(&input) {
        Ok(out) => {
            output(&out);
            0
        }
        Err(reason) => {
            output(&reason);
            1
        }
    }
}

/// Defines the contract's exported entry points `call` and `query` from two handlers
/// `fn(&[u8]) -> Response`.
#[macro_export]
macro_rules! entry_points {
    (call: $call:path, query: $query:path $(,)?) => {
        /// The command entry point (ABI: `call() -> i32`).
        #[export_name = "call"]
        pub extern "C" fn __phalanx_call() -> i32 {
            $crate::run($call)
        }

        /// The query entry point (ABI: `query() -> i32`).
        #[export_name = "query"]
        pub extern "C" fn __phalanx_query() -> i32 {
            $crate::run($query)
        }
    };
}

#[cfg(all(target_arch = "wasm32", not(test)))]
mod wasm {
    use core::alloc::{GlobalAlloc, Layout};
    use core::sync::atomic::{AtomicUsize, Ordering};

    const PAGE: usize = 64 * 1024;

    extern "C" {
        /// Set by the linker: the first byte after the stack and static data.
        static __heap_base: u8;
    }

    /// The bump allocator of the crate docs. Single-threaded (wasm32 without threads), so the
    /// atomic is only a safe cell.
    struct Bump {
        next: AtomicUsize,
    }

    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let mut next = self.next.load(Ordering::Relaxed);
            if next == 0 {
                next = core::ptr::addr_of!(__heap_base) as usize;
            }
            // `align` is a power of two.
            let start = match next.checked_add(layout.align() - 1) {
                Some(n) => n & !(layout.align() - 1),
                None => return core::ptr::null_mut(),
            };
            let end = match start.checked_add(layout.size()) {
                Some(end) => end,
                None => return core::ptr::null_mut(),
            };
            let have = core::arch::wasm32::memory_size(0) * PAGE;
            if end > have {
                let pages = (end - have).div_ceil(PAGE);
                if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                    return core::ptr::null_mut();
                }
            }
            self.next.store(end, Ordering::Relaxed);
            start as *mut u8
        }

        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {
            // Never frees: the instance and its memory are dropped after the run.
        }
    }

    #[global_allocator]
    static ALLOCATOR: Bump = Bump {
        next: AtomicUsize::new(0),
    };

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
        // Trap: the executor reports it and discards the run's writes.
        core::arch::wasm32::unreachable()
    }
}

/// Copies the last HTTP response into a buffer of `len` bytes (used by [`http`]).
fn http_response(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    // SAFETY: the host writes the last response, whose length it returned, into `buf`.
    unsafe { sys::http_response_read(buf.as_mut_ptr()) };
    buf
}

/// Sends an encoded HTTP request; returns the response length or a negative code (used by
/// [`http`]).
fn http_send(request: &[u8]) -> i32 {
    // SAFETY: the host reads a live slice.
    unsafe { sys::http_request(request.as_ptr(), len_i32(request.len())) }
}
