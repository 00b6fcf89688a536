//! The CRC of MS-PST §5.3: CRC-32 with the reflected polynomial 0xEDB88320, starting from 0
//! and with no final inversion (a zlib CRC-32 starts from and ends with 0xFFFFFFFF, and gives
//! other values), and the block and page signature of §5.5.
//!
//! The spec's table is kept to check against; the CRC itself is computed by crc32fast (the
//! same polynomial, with SIMD), whose inversions are undone around it: every byte of a PST
//! passes through this CRC, and a table walk of a byte at a time took a tenth of a write.

#[cfg(test)]
const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

#[cfg(test)]
static TABLE: [u32; 256] = table();

/// The CRC of `data`, continuing from `crc` (0 to start).
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    // crc32fast inverts the register before and after: a start of `!crc` and an inverted
    // result leave the plain register of §5.3.
    let mut h = crc32fast::Hasher::new_with_initial(!crc);
    h.update(data);
    !h.finalize()
}

/// The CRC of §5.3 a byte at a time over the spec's table (the oracle of the tests).
#[cfg(test)]
fn crc32_table(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

/// The signature of a block or page at file offset `ib` with BID `bid` (§5.5).
pub fn signature(ib: u64, bid: u64) -> u16 {
    let v = (ib ^ bid) as u32;
    ((v >> 16) as u16) ^ (v as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_specs() {
        // §5.3 lists the table; its first and some later entries.
        assert_eq!(TABLE[1], 0x7707_3096);
        assert_eq!(TABLE[128], 0xEDB8_8320);
        assert_eq!(TABLE[255], 0x2D02_EF8D);
    }

    #[test]
    fn no_initial_or_final_inversion() {
        assert_eq!(crc32(0, b""), 0);
        // zlib's CRC-32 of "123456789" is 0xCBF43926; this one starts at 0 and does not
        // invert: the same table without the inversions gives 0x2DFD2D88 (computed apart,
        // with the reflected polynomial, initial value 0 and no final XOR).
        assert_eq!(crc32(0, b"123456789"), 0x2DFD_2D88);
        // Continuing equals computing at once.
        assert_eq!(crc32(crc32(0, b"1234"), b"56789"), crc32(0, b"123456789"));
    }

    #[test]
    fn the_fast_crc_equals_the_specs_table_walk() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in [0, 1, 3, 15, 16, 17, 63, 64, 65, 1000, 8176, 10_000] {
            for start in [0u32, 1, 0xFFFF_FFFF, 0x1234_5678] {
                assert_eq!(
                    crc32(start, &data[..len]),
                    crc32_table(start, &data[..len]),
                    "{len} bytes from {start:#x}"
                );
            }
        }
    }

    #[test]
    fn signatures_fold_the_low_32_bits() {
        assert_eq!(signature(0x4200, 0x17F), 0x437F);
        assert_eq!(signature(0x1_0000, 0), 1);
        assert_eq!(signature(5, 5), 0);
    }
}
