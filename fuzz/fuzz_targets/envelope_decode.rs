//! The lenient base64 decoder against an independent model of Node's
//! `Buffer.from(value, 'base64')` on ASCII/UTF-8 input: both alphabets,
//! every other byte skipped, stop at the first '=', a trailing single sextet
//! dropped. Plus: canonical encodings (padded standard, unpadded URL-safe)
//! of any bytes decode back to exactly those bytes.
#![no_main]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use keyrotate_core::envelope::decode_lenient;
use libfuzzer_sys::fuzz_target;

fn sextet(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

/// Collect sextets first, then decode groups of four: a different algorithm
/// from the streaming accumulator under test.
fn model(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let end = bytes.iter().position(|&b| b == b'=').unwrap_or(bytes.len());
    let sextets: Vec<u8> = bytes[..end].iter().filter_map(|&b| sextet(b)).collect();
    let mut out = Vec::new();
    for group in sextets.chunks(4) {
        let mut n: u32 = 0;
        for (i, v) in group.iter().enumerate() {
            n |= u32::from(*v) << (18 - 6 * i);
        }
        let produced = match group.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => 0,
        };
        for i in 0..produced {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let decoded = decode_lenient(text);
        assert_eq!(decoded, model(text), "decoder and model disagree");
        assert!(decoded.len() <= text.len() * 3 / 4 + 1);
    }
    assert_eq!(decode_lenient(&STANDARD.encode(data)), data);
    assert_eq!(decode_lenient(&URL_SAFE_NO_PAD.encode(data)), data);
});
