//! Any bytes as a Produce request's `records`: split into batches, validated as the broker
//! validates a client's batch, decompressed with a bound, walked record by record, and
//! recompressed as a topic's `compression.type` would ask. Errors are fine; panics and
//! unbounded allocation are not.
#![no_main]

/// The broker's own allocator, as in `weir serve`: decoders that reserve capacity from a
/// count read off the wire get address space, not an abort (see src/alloc.rs).
#[global_allocator]
static ALLOCATOR: weir::alloc::BrokerAllocator = weir::alloc::BrokerAllocator;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir::record::codec::{decompress, recompress};
use weir::record::{raw_records, split_batches, Compression};

/// The decompression bound the broker uses is the topic's `max.message.bytes`; a fuzz input
/// gets a smaller one.
const LIMIT: usize = 4 << 20;

fuzz_target!(|data: &[u8]| {
    for batch in split_batches(Bytes::copy_from_slice(data)) {
        let Ok(batch) = batch else { break };
        if batch.validate_from_client().is_err() {
            continue;
        }
        let Ok(codec) = batch.attributes().compression() else {
            continue;
        };
        let Ok(plain) = decompress(codec, &batch.records_bytes(), LIMIT) else {
            continue;
        };
        assert!(plain.len() <= LIMIT);
        let walked = raw_records(&plain, batch.record_count()).count();
        assert!(walked <= batch.record_count() as usize);
        let target = if codec == Compression::Lz4 {
            Compression::Zstd
        } else {
            Compression::Lz4
        };
        if let Ok(recompressed) = recompress(&batch, target, LIMIT) {
            assert_eq!(recompressed.check_integrity(), Ok(()));
            assert_eq!(recompressed.record_count(), batch.record_count());
        }
    }
});
