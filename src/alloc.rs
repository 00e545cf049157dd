//! The broker's global allocator: the system allocator, except that very large blocks are
//! reserved with `mmap(MAP_NORESERVE)`.
//!
//! Why: the kafka-protocol crate (0.18) sizes a decoded array with `Vec::with_capacity(n)` for
//! the element count `n` read off the wire, before decoding any element. A 20-byte request that
//! claims 2^31 topics asks for ~150 GiB; the system allocator refuses and Rust aborts the
//! process — one bad client would take the broker down (upstream: kafka-protocol-rs PRs #152,
//! #161, #200, open). Reserved address space costs nothing until touched, and the decoder fails
//! on the missing bytes long before it touches more than the frame's worth, so such a request
//! ends as a clean "malformed request" and a closed connection. Real allocations of this size
//! behave as with any overcommitting allocator.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large are mapped directly (glibc would mmap them too, but with the
/// kernel's overcommit check, which refuses sizes beyond RAM + swap).
const HUGE_BLOCK: usize = 1 << 30;
const PAGE: usize = 4096;

/// Blocks at least this large are mapped by glibc's malloc (its default starts at 128 KiB).
const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the top of a malloc arena beyond this is given back to the kernel.
const TRIM_THRESHOLD: usize = 128 << 20;

/// Keeps glibc's malloc from handing each 1 MiB fetch buffer back to the kernel.
///
/// Why: a fetch from the segment files reads 1 MiB chunks and copies each into a fresh
/// `Bytes`. With glibc's default thresholds those blocks are mmapped (or trimmed off the heap
/// top) and unmapped once the response is sent, so every chunk is paid again in page faults,
/// zeroed pages and cgroup accounting: measured, a third of the broker's CPU while a consumer
/// reads old data, and half of it came back with these two settings (tuning.md, "Memory";
/// perf/RESULTS.md, "Consume from the segment files"). Freed blocks are reused instead, and up
/// to [`TRIM_THRESHOLD`] of free memory per arena stays mapped.
///
/// An operator's own choice wins: nothing is changed when `GLIBC_TUNABLES` sets a malloc
/// tunable or `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` is set. Returns whether the
/// thresholds were set.
pub fn keep_freed_buffers() -> bool {
    let chosen_by_operator = std::env::var("GLIBC_TUNABLES")
        .is_ok_and(|t| t.contains("glibc.malloc."))
        || std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some();
    if chosen_by_operator {
        return false;
    }
    set_malloc_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_malloc_thresholds() -> bool {
    // SAFETY: mallopt only adjusts malloc's parameters; called once at start-up, before the
    // shards' threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_malloc_thresholds() -> bool {
    false
}

pub struct BrokerAllocator;

fn is_huge(layout: &Layout) -> bool {
    layout.size() >= HUGE_BLOCK && layout.align() <= PAGE
}

// SAFETY: every block comes from either System or mmap, and is returned to the one it came from
// (the layout's size decides which, identically on both paths).
unsafe impl GlobalAlloc for BrokerAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            map_huge(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            // Anonymous mappings are zero-filled.
            map_huge(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(&layout) {
            // SAFETY: the block was mapped by map_huge with this size.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees new_size is valid for layout.align().
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_huge(&layout), is_huge(&new_layout)) {
            // SAFETY: forwarded with the caller's guarantees.
            (false, false) => return unsafe { System.realloc(ptr, layout, new_size) },
            (true, true) => {
                // Move the mapping instead of copying it: untouched pages stay untouched.
                // SAFETY: ptr is a mapping of layout.size() bytes made by map_huge.
                let moved = unsafe {
                    libc::mremap(ptr.cast(), layout.size(), new_size, libc::MREMAP_MAYMOVE)
                };
                return if moved == libc::MAP_FAILED {
                    std::ptr::null_mut()
                } else {
                    moved.cast()
                };
            }
            _ => {}
        }
        // SAFETY: a fresh block of the new layout; the old one stays valid until copied.
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            // SAFETY: both blocks are at least min(old, new) bytes and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new_ptr
    }
}

fn map_huge(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping; no existing memory is touched.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_blocks_are_reserved_not_committed() {
        let allocator = BrokerAllocator;
        let layout = Layout::from_size_align(256 << 30, 8).unwrap();
        // SAFETY: a valid layout; the block is freed with the same layout.
        unsafe {
            let ptr = allocator.alloc(layout);
            assert!(!ptr.is_null(), "256 GiB of address space is reservable");
            ptr.write(7);
            let grown = allocator.realloc(ptr, layout, (256 << 30) + 4096);
            assert_eq!(grown.read(), 7);
            allocator.dealloc(
                grown,
                Layout::from_size_align((256 << 30) + 4096, 8).unwrap(),
            );
            let small = Layout::from_size_align(64, 8).unwrap();
            let p = allocator.alloc(small);
            assert!(!p.is_null());
            allocator.dealloc(p, small);
        }
    }
}
