//! The guest's allocator: dlmalloc, fed first from a region of the module's own memory and
//! only then by `memory.grow`.
//!
//! Every call runs in a fresh instance, and std's allocator on wasm32 grows linear memory
//! for its very first allocation (it never uses memory the module starts with). A grown
//! memory costs the host two `mprotect`s per call: one to make the new pages accessible,
//! one to make them inaccessible again before the pool slot's next instance, and that one
//! must interrupt every other core to flush its TLB. On a small call that was a fifth of
//! the host's CPU (benches/README.md, "The guest's heap"). Serving the heap from a
//! zero-initialised static first keeps a call that needs less than [`REGION_BYTES`] inside
//! the memory it was instantiated with. The static is bss: it adds nothing to the
//! component, and its pages take RAM only once written (and are reset after the call like
//! any other).
//!
//! On by default (the `allocator` feature); a plugin with a `#[global_allocator]` of its
//! own turns it off with `default-features = false`.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};
use core::ptr;

#[cfg(target_feature = "atomics")]
compile_error!("agentx-sdk's allocator assumes a single-threaded guest (no `atomics`)");

/// The heap a call can use without growing memory: more than a small plugin needs in a
/// call (a message and a reply at the default 64 KiB output cap fit several times over).
/// No larger, because the region is paid on every call even where unwritten: the host
/// resets a finished instance by walking the page table of all the memory it started with.
/// With a 1 MiB region (and Rust's 1 MiB stack) echo's call took 10.2–10.6 µs in
/// benches/plugin_call.rs, against 9.7–9.8 µs with this one and a 128 KiB stack
/// (benches/README.md, "A smaller guest memory").
const REGION_BYTES: usize = 256 << 10;

/// WebAssembly's page: the unit of `memory.grow`.
const PAGE_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct Region(UnsafeCell<[u8; REGION_BYTES]>);

// SAFETY: guests are single-threaded (checked above); only `Source` hands the region out,
// once.
unsafe impl Sync for Region {}

static REGION: Region = Region(UnsafeCell::new([0; REGION_BYTES]));

/// Where dlmalloc gets memory from: the region once, then `memory.grow`.
struct Source {
    region_taken: Cell<bool>,
}

// SAFETY: dlmalloc's trait asks for `Send`; a single-threaded guest never sends it anywhere.
unsafe impl Send for Source {}

// SAFETY: every block handed out is fresh, zeroed, writable memory of the length returned,
// never handed out twice (the region once; grown pages are new).
unsafe impl dlmalloc::Allocator for Source {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        if size <= REGION_BYTES && !self.region_taken.replace(true) {
            return (REGION.0.get().cast(), REGION_BYTES, 0);
        }
        let pages = size.div_ceil(PAGE_BYTES);
        let previous = core::arch::wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return (ptr::null_mut(), 0, 0);
        }
        ((previous * PAGE_BYTES) as *mut u8, pages * PAGE_BYTES, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE_BYTES
    }
}

struct Heap(UnsafeCell<dlmalloc::Dlmalloc<Source>>);

// SAFETY: single-threaded guest (checked above): no two calls into the heap overlap.
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap(UnsafeCell::new(dlmalloc::Dlmalloc::new_with_allocator(
    Source {
        region_taken: Cell::new(false),
    },
)));

// SAFETY: dlmalloc's functions take the same size and alignment contract as `GlobalAlloc`.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).malloc(layout.size(), layout.align())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).calloc(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        (*self.0.get()).free(ptr, layout.size(), layout.align())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size)
    }
}
